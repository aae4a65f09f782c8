"""Training adapters (EZIGen's and the baselines'): data, loop, checkpoints."""
