"""Toy image encoders standing in for CLIP and DINOv2, trained in the toy world (docs/toy-world.md).

``toy:clip`` (a transformers ``CLIPModel``: a 32 px ViT image tower and a text tower over the toy
vocabulary, trained with CLIP's image-text InfoNCE on toy scenes and crops) and ``toy:dino`` (a
``Dinov2Model`` trained with DINO's self-distillation on subject crops) are shipped as folders
``ezigen/assets/toy/clip`` and ``ezigen/assets/toy/dino`` that the ``clip`` and ``dino`` subject
encoders, stop rules and metrics load with ``from_pretrained``, exactly as they load the real models.

One concept per file: ``models`` (configs, processors, the shipped folders), ``data`` (batches drawn
from the training subjects as a function of the step), ``clip_objective``, ``dino_objective``,
``training`` (the resumable loop), ``probe`` (linear read-out of the subject's attributes).
"""
