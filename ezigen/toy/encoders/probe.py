"""A linear probe: what an encoder's feature says about a subject it never saw.

``python -m ezigen.toy.encoders.probe --encoder FOLDER|toy:clip|toy:dino [--baseline]``

Features are what the fusions get, through the real subject encoder classes: ``clip`` with
``embedding: pooled`` (the projected image embedding) or ``dino`` with ``tokens: cls``;
``--features tokens`` takes instead the mean of the token sequence the ablation recipes feed
(CLIP's penultimate patch tokens, DINO's CLS + patch tokens). Subjects: ``count`` crops of subjects
outside the world's training split (the held-out 60 included), shuffled with ``seed``; the first
half fits, the second half is scored.

Per attribute (shape 6, colour a 10, colour b 10, texture 5 classes) a ridge least-squares
read-out on standardised features X (N, D) with one-hot targets Y (N, C):

    W = (X1^T X1 + lambda I)^-1 X1^T Y,   X1 = [X, 1],   prediction = argmax_c (x1 W)_c

reported as test accuracy against chance (the test set's most frequent class). ``--baseline`` also
probes the untrained toy model of the same kind, so what training added is visible.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from typing import Any

ATTRIBUTES = ("shape", "colour_a", "colour_b", "texture")
RIDGE = 1.0


def probe_subjects(world_seed: int = 0, count: int = 1000, seed: int = 0) -> list[Any]:
    """``count`` subjects no training split of world ``world_seed`` contains."""
    from ezigen.toy.encoders.data import training_subjects
    from ezigen.toy.world import all_subjects

    seen = set(training_subjects(world_seed))
    unseen = [s for s in all_subjects() if s not in seen]
    random.Random(f"toy-probe:{seed}").shuffle(unseen)
    return unseen[:count]


def encoder_kind(pretrained: str) -> str:
    """clip | dino, from a ``toy:`` / ``tiny:`` name or a folder's config.json."""
    from ezigen.errors import EzigenError

    if pretrained.split(":", 1)[0] in ("toy", "tiny") and ":" in pretrained:
        kind = pretrained.split(":", 1)[1]
        if kind in ("clip", "dino"):
            return kind
    path = os.path.join(pretrained, "config.json")
    if not os.path.isfile(path):
        raise EzigenError(f"--encoder {pretrained!r}: not a model folder (no config.json) nor toy:clip / toy:dino")
    with open(path, encoding="utf-8") as handle:
        model_type = json.load(handle).get("model_type")
    if model_type in ("clip", "clip_vision_model"):
        return "clip"
    if model_type == "dinov2":
        return "dino"
    raise EzigenError(f"--encoder {pretrained!r}: model_type {model_type!r} is neither CLIP nor DINOv2")


def subject_encoder(pretrained: str, features: str = "pooled") -> Any:
    """The real ``clip`` / ``dino`` subject encoder on ``pretrained`` (the probe's feature source)."""
    from ezigen.builtins.encoders.clip import ClipEmbedding, ClipEncoderConfig, ClipSubjectEncoder
    from ezigen.builtins.encoders.dino import DinoEncoderConfig, DinoSubjectEncoder, DinoTokens

    pooled = features == "pooled"
    if encoder_kind(pretrained) == "clip":
        return ClipSubjectEncoder(ClipEncoderConfig(pretrained=pretrained, revision=None, subfolder=None,
                                                    embedding=ClipEmbedding.POOLED if pooled else ClipEmbedding.PATCH))
    tokens = DinoTokens.CLS if pooled else DinoTokens.ALL
    return DinoSubjectEncoder(DinoEncoderConfig(pretrained=pretrained, revision=None, tokens=tokens))


def encode(encoder: Any, images: list[Any], batch: int = 250):
    """(N, D) float64: the encoder's tokens for each image, averaged over the tokens."""
    import numpy as np
    import torch

    out = []
    for start in range(0, len(images), batch):
        pixels = encoder.processor(images=images[start:start + batch], return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            out.append(encoder.tokens(pixels.to(encoder.model.dtype)).float().mean(dim=1).numpy())  # (n, D)
    return np.concatenate(out).astype(np.float64)


def linear_readout(x_fit, y_fit, x_test, y_test, classes: int, ridge: float = RIDGE) -> float:
    """Test accuracy of the ridge least-squares read-out above (x: (N, D), y: (N,) class ids)."""
    import numpy as np

    mean, std = x_fit.mean(axis=0), x_fit.std(axis=0) + 1e-8
    x1 = np.hstack([(x_fit - mean) / std, np.ones((len(x_fit), 1))])  # (N, D + 1)
    t1 = np.hstack([(x_test - mean) / std, np.ones((len(x_test), 1))])
    targets = np.eye(classes)[y_fit]  # (N, C)
    w = np.linalg.solve(x1.T @ x1 + ridge * np.eye(x1.shape[1]), x1.T @ targets)  # (D + 1, C)
    return float((np.argmax(t1 @ w, axis=1) == y_test).mean())


def probe(pretrained: str, count: int = 1000, seed: int = 0, world_seed: int = 0,
          features: str = "pooled") -> dict[str, dict[str, float]]:
    """{attribute: {"accuracy", "chance", "classes"}} for the encoder ``pretrained`` (folder or toy:/tiny: name)."""
    import numpy as np

    from ezigen.toy.world import SHAPES, SUBJECT_COLOURS, TEXTURES, render_crop

    subjects = probe_subjects(world_seed, count, seed)
    x = encode(subject_encoder(pretrained, features), [render_crop(s) for s in subjects])
    half = len(subjects) // 2
    values = {"shape": list(SHAPES), "colour_a": list(SUBJECT_COLOURS), "colour_b": list(SUBJECT_COLOURS),
              "texture": list(TEXTURES)}
    report = {}
    for attribute in ATTRIBUTES:
        y = np.array([values[attribute].index(getattr(s, attribute)) for s in subjects])
        classes = len(values[attribute])
        accuracy = linear_readout(x[:half], y[:half], x[half:], y[half:], classes)
        chance = float(np.bincount(y[half:], minlength=classes).max() / len(y[half:]))
        report[attribute] = {"accuracy": round(accuracy, 4), "chance": round(chance, 4), "classes": classes}
    return report


def probe_untrained(kind: str, **kwargs: Any) -> dict[str, dict[str, float]]:
    """The probe of the untrained model of ``kind`` (saved to a temporary folder, loaded like any other)."""
    from ezigen.toy.encoders.models import untrained

    model, processor = untrained(kind)
    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder)
        processor.save_pretrained(folder)
        return probe(folder, **kwargs)


def format_report(name: str, report: dict[str, dict[str, float]]) -> str:
    cells = " | ".join(f"{a} {r['accuracy']:.3f} (chance {r['chance']:.3f})" for a, r in report.items())
    return f"{name}: {cells}"


def main(argv: list[str] | None = None) -> int:
    from ezigen.errors import EzigenError

    parser = argparse.ArgumentParser(prog="python -m ezigen.toy.encoders.probe", description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", required=True, help="encoder folder, toy:clip or toy:dino")
    parser.add_argument("--count", type=int, default=1000, help="unseen subjects (half fit, half scored)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--world-seed", type=int, default=0)
    parser.add_argument("--features", choices=("pooled", "tokens"), default="pooled")
    parser.add_argument("--baseline", action="store_true", help="also probe the untrained toy model of the same kind")
    parser.add_argument("--json", action="store_true", help="print JSON instead of lines")
    args = parser.parse_args(argv)
    if args.count < 20:
        parser.error("--count must be at least 20")
    try:
        kwargs = dict(count=args.count, seed=args.seed, world_seed=args.world_seed, features=args.features)
        reports = {args.encoder: probe(args.encoder, **kwargs)}
        if args.baseline:
            reports["untrained"] = probe_untrained(encoder_kind(args.encoder), **kwargs)
    except EzigenError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(reports, indent=1) if args.json else "\n".join(format_report(k, v) for k, v in reports.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
