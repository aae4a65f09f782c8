"""The toy encoders' models and processors, and the shipped folders ``toy:clip`` / ``toy:dino``.

Sizes (float32): both image towers are ViTs on 32 x 32 images with 4 x 4 patches (64 patches + CLS
= 65 tokens), 64-d, 4 layers, 4 heads, MLP 256 (~0.2 M parameters). ``toy:clip`` adds a 2-layer,
64-d text tower over the toy vocabulary and 64-d projections (0.28 M parameters, ~1.1 MB);
``toy:dino`` is a ``Dinov2Model`` (0.2 M, ~0.8 MB).

Preprocessing is each family's own processor at 32 px: ``CLIPImageProcessor`` with the OpenAI
mean/std, DINOv2's ``BitImageProcessor`` with the ImageNet mean/std; toy crops are 32 px already,
so resizing and centre cropping leave them unchanged.
"""

from __future__ import annotations

import os
from typing import Any

from ezigen.toy.backbone import TOY_ASSETS, MAX_TOKENS, toy_tokenizer

IMAGE_SIZE = 32
PATCH_SIZE = 4
HIDDEN = 64
LAYERS = 4
HEADS = 4
MLP = 256
PROJECTION = 64
SEED = 0
KINDS = ("clip", "dino")
EMBEDDED = {"toy:clip": os.path.join(TOY_ASSETS, "clip"), "toy:dino": os.path.join(TOY_ASSETS, "dino")}
SUMMARY = "toy-encoder.json"  # written last: a folder without it is not a finished toy encoder
CLIP_MEAN, CLIP_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
# transformers' CLIP text tower pools the token with the *highest id* when ``eos_token_id == 2`` (its
# pre-2023 rule) and the first ``eos_token_id`` otherwise; the toy tokenizer has <eos> = 2, so the CLIP
# stand-in's tokenizer moves <eos> to id 3 (same words, same ids from 4 on) to pool the real <eos>.
CLIP_SPECIALS = ("<pad>", "<bos>", "<unk>", "<eos>")


def clip_tokenizer():
    """The toy word-level tokenizer with <eos> at id 3 (see ``CLIP_SPECIALS``)."""
    return toy_tokenizer(specials=CLIP_SPECIALS)


def _seeded(offset: int, build):
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED + offset)
        return build()


def toy_clip_model():
    """An untrained ``CLIPModel`` (deterministic): ViT 32 px / 4, 64-d x 4 layers; text 64-d x 2 layers."""
    from transformers import CLIPConfig, CLIPModel

    tokenizer = clip_tokenizer()
    text = dict(vocab_size=len(tokenizer), hidden_size=HIDDEN, intermediate_size=2 * HIDDEN, num_hidden_layers=2,
                num_attention_heads=2, max_position_embeddings=MAX_TOKENS, bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, hidden_act="gelu",
                projection_dim=PROJECTION)
    vision = dict(hidden_size=HIDDEN, intermediate_size=MLP, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                  image_size=IMAGE_SIZE, patch_size=PATCH_SIZE, hidden_act="gelu", projection_dim=PROJECTION)
    config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=PROJECTION)
    return _seeded(11, lambda: CLIPModel(config))


def toy_clip_processor():
    from transformers import CLIPImageProcessor, CLIPProcessor

    image_processor = CLIPImageProcessor(size={"shortest_edge": IMAGE_SIZE},
                                         crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
                                         image_mean=CLIP_MEAN, image_std=CLIP_STD)
    return CLIPProcessor(image_processor=image_processor, tokenizer=clip_tokenizer())


def toy_dino_model():
    """An untrained ``Dinov2Model`` (deterministic): 32 px / 4, 64-d x 4 layers, layer scale 1."""
    from transformers import Dinov2Config, Dinov2Model

    config = Dinov2Config(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                          mlp_ratio=MLP // HIDDEN, image_size=IMAGE_SIZE, patch_size=PATCH_SIZE)
    return _seeded(12, lambda: Dinov2Model(config))


def toy_dino_processor():
    from transformers import BitImageProcessor

    return BitImageProcessor(size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
                             do_center_crop=True, image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD)


def untrained(kind: str) -> tuple[Any, Any]:
    """(model, processor) of ``kind`` (clip | dino) before training."""
    if kind == "clip":
        return toy_clip_model(), toy_clip_processor()
    if kind == "dino":
        return toy_dino_model(), toy_dino_processor()
    raise ValueError(f"unknown toy encoder {kind!r}; expected one of {', '.join(KINDS)}")


def embedded_folder(name: str) -> str:
    """``toy:clip`` / ``toy:dino`` -> the shipped folder, or one clear error when it is not built."""
    from ezigen.errors import EzigenError

    if name not in EMBEDDED:
        raise EzigenError(f"{name!r} is not an embedded toy encoder; expected one of {', '.join(EMBEDDED)}")
    folder = EMBEDDED[name]
    if not os.path.isfile(os.path.join(folder, SUMMARY)):
        kind = name.split(":", 1)[1]
        raise EzigenError(f"{name} is not built in this installation ({folder} is missing); train and ship it with "
                          f"`ezigen toy encoder {kind} --out toy-work/{kind} --resume --ship` (docs/toy-world.md, "
                          "Toy encoders), or pass a trained folder as subject_encoder.pretrained")
    return folder
