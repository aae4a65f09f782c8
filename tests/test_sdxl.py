"""EZIGen and the baselines on SDXL: 70-block adapters, the SDXL script's schedule, conditioning, precision."""

import json
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ezigen.builtins.encoders.unet import UNetEncoderConfig, UNetSubjectEncoder
from ezigen.values import BackboneKind, SubjectInput
from tests.conftest import DREAMBENCH, build, needs_dreambench
from tests.test_unet_encoder import meta_unet


def test_real_sdxl_adapters_have_the_spec_parameter_count():
    from ezigen.builtins.fusions.adapter_attention import AdapterAttentionConfig
    from ezigen.builtins.fusions.adapter_attention.model import AdapterAttentionModel

    unet = meta_unet("sdxl-base-unet.json")
    with torch.device("meta"):
        fusion = AdapterAttentionModel(AdapterAttentionConfig(), SimpleNamespace(unet=unet, kind=BackboneKind.SDXL))
    assert len(fusion.layers) == 70
    assert sum(p.numel() for p in fusion.parameters()) == 409_849_600 + 70  # spec §3.5: about 410 M
    assert fusion.residual_connection is False  # the SDXL default


def check_sdxl_trace(trace):
    initial = [s for s in trace["steps"] if s["iteration"] == 0]
    assert len(initial) == 20 and [s["subject"] for s in initial] == [False] * 6 + [True] * 14
    assert trace["totals"]["iterations"] == 7
    for n in range(1, 8):
        steps = [s for s in trace["steps"] if s["iteration"] == n]
        assert len(steps) == 14 and all(s["subject"] for s in steps)
        assert steps[0]["timestep"] == initial[6]["timestep"]  # restart at the snapped step
    assert trace["totals"]["unet_evals"] == 1 + 2 * 20 + 7 * 2 * 14


def test_ezigen_sdxl_schedule(tmp_path, subject_path):
    from ezigen.cli.main import main

    main(["generate", "ezigen-sdxl-base", "--tiny", "--subject", subject_path, "--subject-prompt", "a disc",
          "--prompt", "a disc in the snow", "--out", str(tmp_path / "out")])
    check_sdxl_trace(json.loads((tmp_path / "out" / "trace.json").read_text()))


@needs_dreambench
def test_done_when_command_on_the_cat(tmp_path):
    from ezigen.cli.main import main

    main(["generate", "ezigen-sdxl-base", "--tiny", "--subject", os.path.join(DREAMBENCH, "cat", "00.jpg"),
          "--subject-prompt", "a cat", "--prompt", "a cat in the snow", "--out", str(tmp_path / "cat")])
    check_sdxl_trace(json.loads((tmp_path / "cat" / "trace.json").read_text()))


def test_subject_pass_is_conditioned_like_sdxl(ezigen_backbone_sdxl, subject_image):
    """Pooled text and added time ids reach the subject pass: other time ids, other features."""
    import attrs

    backbone = ezigen_backbone_sdxl
    subject = SubjectInput.from_images([subject_image], "a disc")
    encoder = UNetSubjectEncoder.from_config(UNetEncoderConfig(), backbone)
    base = encoder.encode(subject, backbone)
    assert len(base.layers) == 12
    original = backbone.config
    try:
        backbone.config = attrs.evolve(original, crops_coords_top_left=(16, 16))
        cropped = encoder.encode(subject, backbone)
    finally:
        backbone.config = original
    assert any(not torch.equal(base.layers[n], cropped.layers[n]) for n in base.layers)


@pytest.mark.parametrize("recipe", ["baselines/clip-ipadapter-sdxl", "baselines/reference-sdxl"])
def test_sdxl_baselines_run_with_tiny(recipe, subject_path):
    system = build(recipe, "sampling.steps=4")
    result = system.generate("a disc in the snow", subject=subject_path, subject_prompt="a disc", seed=0)
    assert result.image.size == (64, 64) and system.backbone.kind is BackboneKind.SDXL


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_runs_and_the_vae_is_upcast_only_while_used(dtype, subject_path):
    system = build("ezigen-sdxl-base", f"backbone.dtype={dtype}", "sampling.steps=4", "refinement.stop.iterations=1")
    result = system.generate("a disc", subject=subject_path, subject_prompt="a disc", seed=0)
    assert np.isfinite(np.asarray(result.image, dtype=np.float32)).all()
    assert str(system.backbone.vae.dtype) == f"torch.{dtype}"  # restored after each upcast use
    assert str(result.latents.dtype) == f"torch.{dtype}"


def test_sdxl_bad_subject_is_one_clear_error(tmp_path, capsys):
    from tests.test_cli import assert_user_error, run

    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    code, _, err = run(["generate", "ezigen-sdxl-base", "--tiny", "--subject", str(empty), "--subject-prompt", "a cat",
                        "--prompt", "x", "--out", str(tmp_path / "o")], capsys)
    assert_user_error(code, err, "empty (0 bytes)")
    assert not (tmp_path / "o" / "image.png").exists()
