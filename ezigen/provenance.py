"""What a result was made with: library versions, the device, and where each model came from.

Recorded in every ``trace.json`` and in eval's ``results.json`` under ``"provenance"``::

    {"versions": {"ezigen": "0.1.0", "python": "3.11.7", "torch": "2.13.0", "diffusers": ..., ...},
     "device": {"device": "cpu", "dtype": "float32", "cuda": null},
     "models": {"backbone": {"kind": "hub", "id": "stabilityai/...", "revision": "main", "resolved": "1f75..."},
                "subject_encoder": {"kind": "builtin", "name": "tiny:sd21"}, ...}}

Model sources (:func:`model_source`):

- ``tiny:*`` / ``toy:*`` / ``random:*``: ``{"kind": "builtin", "name": ...}`` (built in memory
  from fixed seeds, or shipped with ezigen: the ezigen version pins them);
- a local folder or file: ``{"kind": "local", "path": ..., "sha256": ...}``, a hash over the
  weights files' bytes (``*.safetensors``, ``*.bin``, ``*.pt``, ``*.pth``, ``*.ckpt``), relative paths
  sorted, so two copies of one model hash the same wherever they lie;
- a hub id: ``{"kind": "hub", "id": ..., "revision": asked or None, "resolved": commit or None}``;
  the commit is read from the local Hugging Face cache only (no network is ever touched here).
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
from importlib import metadata
from typing import Any

LIBRARIES = ("ezigen", "torch", "diffusers", "transformers", "accelerate", "huggingface_hub", "safetensors",
             "tokenizers", "numpy", "pillow")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
BUILTIN_PREFIXES = ("tiny:", "toy:", "random:")


def library_versions() -> dict[str, str | None]:
    """``{"python": ..., "<package>": version or None when not installed}`` for :data:`LIBRARIES`."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def device_info(device: Any = None, dtype: Any = None) -> dict[str, Any]:
    """The device and dtype a run used, and the accelerator's name where there is one."""
    info: dict[str, Any] = {"device": None if device is None else str(device),
                            "dtype": None if dtype is None else str(dtype).replace("torch.", ""),
                            "cuda": None}
    if device is not None and str(device).startswith("cuda"):
        import torch

        info["cuda"] = {"name": torch.cuda.get_device_name(torch.device(device)), "version": torch.version.cuda}
    return info


def _hash_files(paths: list[str], root: str) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths, key=lambda p: os.path.relpath(p, root)):
        digest.update(os.path.relpath(path, root).replace(os.sep, "/").encode() + b"\0")
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=64)
def _local_hash(path: str, stamp: tuple) -> str:
    """Hash of the weights under ``path``; ``stamp`` (sizes and mtimes) keys the cache so edits rehash."""
    if os.path.isfile(path):
        return _hash_files([path], os.path.dirname(path))
    return _hash_files(_weight_files(path), path)


def _weight_files(folder: str) -> list[str]:
    found = []
    for root, _dirs, files in os.walk(folder):
        found += [os.path.join(root, f) for f in files if f.endswith(WEIGHT_SUFFIXES)]
    return found


def _stamp(path: str) -> tuple:
    files = [path] if os.path.isfile(path) else _weight_files(path)
    return tuple(sorted((f, os.path.getsize(f), os.path.getmtime(f)) for f in files))


def _cached_commit(repo_id: str, revision: str | None) -> str | None:
    """The commit of ``repo_id@revision`` in the local hub cache, or None (never reaches the network)."""
    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(repo_id, revision=revision, local_files_only=True)
    except Exception:  # not cached, not a repo id, offline: nothing to record
        return None
    return os.path.basename(os.path.normpath(folder))


def model_source(ref: str | None, revision: str | None = None) -> dict[str, Any] | None:
    """Where the model ``ref`` (a builtin name, a local path, or a hub id) came from; see the module doc."""
    if ref is None:
        return None
    ref = str(ref)
    if ref.startswith(BUILTIN_PREFIXES):
        return {"kind": "builtin", "name": ref}
    if os.path.exists(ref):
        path = os.path.abspath(ref)
        return {"kind": "local", "path": path, "sha256": _local_hash(path, _stamp(path))}
    return {"kind": "hub", "id": ref, "revision": revision, "resolved": _cached_commit(ref, revision)}


def provenance(models: dict[str, Any] | None = None, device: Any = None, dtype: Any = None) -> dict[str, Any]:
    """The ``"provenance"`` block: versions, device and ``{role: model_source(...)}`` for ``models``.

    ``models`` maps a role ("backbone", "subject_encoder", "metric:dino", ...) to a ref string
    or to a ``(ref, revision)`` pair.
    """
    sources: dict[str, Any] = {}
    for role, ref in (models or {}).items():
        sources[role] = model_source(*ref) if isinstance(ref, tuple) else model_source(ref)
    return {"versions": library_versions(), "device": device_info(device, dtype), "models": sources}


def snapshot_commit(path: str | None) -> str | None:
    """The commit of a hub-cache snapshot path (``.../snapshots/<commit>/unet``), else None: what a model
    loaded with ``from_pretrained(repo, revision=...)`` was resolved to (diffusers records the path)."""
    parts = os.path.normpath(str(path or "")).split(os.sep)
    for name, commit in zip(parts, parts[1:]):
        if name == "snapshots" and len(commit) == 40 and all(c in "0123456789abcdef" for c in commit):
            return commit
    return None


def recipe_models(recipe: Any) -> dict[str, Any]:
    """``{role: (ref, revision)}`` for every model a recipe names, for :func:`provenance`.

    Roles are section paths: each component section's ``pretrained`` with the ``revision`` beside
    it (``backbone``, ``subject_encoder``, ``refinement.stop``, and any plugin section that has
    one), ``backbone.vae``, and ``fusion.weights`` (an ``hf://owner/repo@revision/file`` URI is
    recorded as its repo at that revision; a local file by its hash). Read from the configs alone:
    nothing is loaded and the network is never touched.
    """
    specs = [("backbone", recipe.backbone), ("subject_encoder", recipe.subject_encoder), ("fusion", recipe.fusion),
             ("guidance", recipe.guidance)]
    if recipe.refinement is not None:
        specs.append(("refinement.stop", recipe.refinement.stop))
    models: dict[str, Any] = {}
    for section, spec in specs:
        config = getattr(spec, "config", None)
        if config is None:
            continue
        if getattr(config, "pretrained", None) is not None:
            models[section] = (config.pretrained, getattr(config, "revision", None))
        if getattr(config, "vae", None) is not None:
            models[f"{section}.vae"] = (config.vae, getattr(config, "vae_revision", None))
        weights = getattr(config, "weights", None)
        if isinstance(weights, str):
            models[f"{section}.weights"] = _weights_ref(weights)
    return models


def _weights_ref(uri: str) -> Any:
    if uri.startswith("hf://"):
        from huggingface_hub import parse_hf_uri  # the pure parser (HfFileSystem.resolve_path asks the hub)

        try:
            parsed = parse_hf_uri(uri)
        except ValueError:
            return uri
        return (parsed.id, parsed.revision)
    return os.path.expanduser(uri)


def run_provenance(recipe: Any, device: Any = None, dtype: Any = None) -> dict[str, Any]:
    """The ``"provenance"`` block of one recipe's run (``trace.json``)."""
    return provenance(recipe_models(recipe), device, dtype)


def system_provenance(system: Any, device: Any = None) -> dict[str, Any]:
    """The ``"provenance"`` block of a built system: its recipe's models, with the backbone's source as
    loaded (``backbone.source``: a handed-in pipe's name and the commit its files came from)."""
    models = recipe_models(system.recipe)
    source = getattr(system.backbone, "source", None)
    if source is not None:
        models["backbone"] = tuple(source)
    return provenance(models, device if device is not None else system.device, getattr(system.backbone, "dtype", None))
