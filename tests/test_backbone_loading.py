"""Backbones load through diffusers' ``DiffusionPipeline.from_pretrained`` (hub ids at a revision, local
folders with a variant and dtype), are shared only when built to be, take non-square sizes, and every
run records where its models came from."""

from __future__ import annotations

import json
import os

import pytest
import torch

import ezigen
from ezigen.builtins.backbones.tiny import save_tiny
from ezigen.errors import EzigenError
from tests.conftest import build, run_cli

COMMIT = "0123456789abcdef0123456789abcdef01234567"
REPO_ID = "ezigen-test/tiny-sd21"


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """A local Hugging Face cache holding REPO_ID at COMMIT, tagged v1 (no main): read offline, as the hub's."""
    import huggingface_hub.constants

    root = tmp_path / "hub"
    repo = root / ("models--" + REPO_ID.replace("/", "--"))
    save_tiny("tiny:sd21", str(repo / "snapshots" / COMMIT))
    (repo / "refs").mkdir()
    (repo / "refs" / "v1").write_text(COMMIT)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(root))
    return root


def test_a_hub_id_at_a_revision_loads_through_from_pretrained_and_is_recorded(hub_cache):
    pipe = ezigen.EZIGenPipeline.from_pretrained(REPO_ID, recipe="text-only-sd21-base", tiny=True, revision="v1")
    backbone = pipe.system.backbone
    assert type(backbone.pipe).__name__ == "StableDiffusionPipeline"
    assert backbone.source == (REPO_ID, COMMIT)  # the commit the files came from
    from ezigen.provenance import system_provenance

    models = system_provenance(pipe.system)["models"]
    assert models["backbone"] == {"kind": "hub", "id": REPO_ID, "revision": COMMIT, "resolved": COMMIT}
    with pytest.raises(Exception):  # no main in the cache: the revision is what made it load
        ezigen.EZIGenPipeline.from_pretrained(REPO_ID, recipe="text-only-sd21-base", tiny=True)


def test_a_recipe_revision_reaches_from_pretrained(hub_cache):
    from ezigen.builtins.backbones.stable_diffusion import StableDiffusionConfig

    import attrs

    if "revision" not in attrs.fields_dict(StableDiffusionConfig):
        pytest.skip("the recipe schema has no backbone.revision yet")
    system = build("text-only-sd21-base", f"backbone.pretrained={REPO_ID}", "backbone.revision=v1",
                   "backbone.resolution=64", tiny=False)
    assert system.backbone.source == (REPO_ID, "v1")
    assert system.generate("a cat", steps=1).image.size == (64, 64)


def test_a_folder_loads_with_its_variant_and_dtype(tmp_path):
    from ezigen.builtins.backbones.tiny import tiny_pipeline

    folder = tmp_path / "fp16-variant"
    tiny_pipeline("tiny:sd21").save_pretrained(str(folder), variant="fp16")
    assert (folder / "unet" / "diffusion_pytorch_model.fp16.safetensors").is_file()
    system = build("text-only-sd21-base", f"backbone.pretrained={folder}", "backbone.variant=fp16",
                   "backbone.dtype=bfloat16", tiny=False)
    assert system.backbone.unet.dtype == torch.bfloat16 and system.backbone.text_encoder.dtype == torch.bfloat16
    with pytest.raises(EzigenError, match="without model_index.json"):
        build("text-only-sd21-base", f"backbone.pretrained={tmp_path}", tiny=False)


def test_two_systems_share_a_unet_only_when_built_to():
    first = build("text-only-sd21-base")
    second = build("text-only-sd21-base")
    assert first.backbone.unet is not second.backbone.unet
    shared = ezigen.build_system(first.recipe, backbone=first.backbone)
    first.to(dtype=torch.float64)
    assert second.backbone.unet.dtype == torch.float32  # moving one system moved no other
    assert shared.backbone.unet is first.backbone.unet and shared.backbone.unet.dtype == torch.float64


@pytest.mark.parametrize("kind", ["sd21", "sdxl"])
def test_cli_non_square_images_and_model_sources_in_the_trace(kind, tiny_folders, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(["generate", f"text-only-{kind}-base", "-p", "a cat", "--out", str(out),
                                    "--set", f"backbone.pretrained={tiny_folders[kind]}",
                                    "--set", "backbone.resolution=64", "--set", "sampling.steps=2",
                                    "--set", "backbone.height=48", "--set", "backbone.width=80", "--quiet"], capsys)
    assert code == 0, stderr
    from PIL import Image

    assert Image.open(out / "image.png").size == (80, 48)
    trace = json.loads((out / "trace.json").read_text())
    source = trace["provenance"]["models"]["backbone"]
    assert source["kind"] == "local" and source["path"] == os.path.abspath(tiny_folders[kind])
    assert len(source["sha256"]) == 64
    assert trace["provenance"]["versions"]["diffusers"]
