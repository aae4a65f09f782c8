"""Touching the UNet by name: layer naming, feature capture, reversible attachments."""
