"""The ``ezigen`` command line (click)."""
