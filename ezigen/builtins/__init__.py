"""The builtin plugin modules. Each registers its components through the public hooks."""
