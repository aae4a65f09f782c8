"""`plugins/template` is a folder to copy (scripts/new_plugin.py), not an installed plugin: its tests
run in the packages made from it (tests/test_plugin_template.py does that)."""

collect_ignore = ["template"]
