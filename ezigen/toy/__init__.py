"""The toy world: a CPU-trainable proof that the method works (docs/toy-world.md).

A procedural world of textured subjects on captioned backgrounds, a tiny text-to-image base
model trained on it through ``ezigen train``, EZIGen adapters trained on the frozen base, and
metrics computed from the generator's ground truth (no pretrained network).
"""
