"""EZIGen end to end on the tiny SD2.1: decoupled schedule, refinement, trace, determinism."""

import json
import os

import numpy as np
import pytest
import torch

from ezigen.builtins.guidance import RELEASED_NEGATIVE_PROMPT
from tests.conftest import DREAMBENCH, build, needs_dreambench

PROMPT = "a disc on the beach"


def trajectory(system, **kwargs):
    latents = []
    result = system.generate(callback=lambda i, t, x: latents.append(x.clone()), **kwargs)
    return result, latents


@pytest.mark.smoke
def test_default_recipe_trace(subject_path):
    system = build("ezigen-sd21-base")
    result = system.generate(PROMPT, subject=subject_path, subject_prompt="a disc", seed=3)
    trace = result.trace
    initial = trace.steps_of(0)
    assert len(initial) == 50
    assert [s.subject for s in initial] == [False] * 30 + [True] * 20
    assert [s.timestep for s in initial][:2] == [981, 961] and initial[30].timestep == 381
    iterations = sorted({s.iteration for s in trace.steps} - {0})
    assert 3 <= len(iterations) <= 9 and iterations == list(range(1, len(iterations) + 1))
    for n in iterations:
        steps = trace.steps_of(n)
        assert len(steps) == 20 and all(s.subject for s in steps)
        assert steps[0].timestep == 381 and steps[0].index == 30 and steps[-1].timestep == 1
    totals = trace.totals
    assert totals["subject_encodings"] == 1
    assert totals["iterations"] == len(iterations)
    # 1 subject pass + 50 CFG steps + 20 CFG steps per iteration
    assert totals["unet_evals"] == 1 + 2 * 50 + 2 * 20 * len(iterations)
    assert totals["vae_decodes"] == 1 + len(iterations) and totals["vae_encodes"] == 1 + len(iterations)


def test_layout_steps_equal_the_text_only_trajectory(subject_path):
    ezigen_system = build("ezigen-sd21-base", "refinement=null")
    text_only = build("text-only-sd21-base", f"guidance.negative_prompt={RELEASED_NEGATIVE_PROMPT}")
    _, ours = trajectory(ezigen_system, prompt=PROMPT, subject=subject_path, subject_prompt="a disc", seed=3)
    _, plain = trajectory(text_only, prompt=PROMPT, seed=3)
    assert len(ours) == len(plain) == 50
    for i in range(30):
        assert torch.equal(ours[i], plain[i]), f"step {i} differs"
    assert not torch.equal(ours[30], plain[30])


def test_fusion_scale_zero_is_exactly_text_only(subject_path):
    ezigen_system = build("ablations/ezigen-sd21-single-pass", "fusion.scale=0", "sampling.steps=12")
    text_only = build("text-only-sd21-base", f"guidance.negative_prompt={RELEASED_NEGATIVE_PROMPT}",
                      "sampling.steps=12")
    a = ezigen_system.generate(PROMPT, subject=subject_path, subject_prompt="a disc", seed=4).latents
    b = text_only.generate(PROMPT, seed=4).latents
    assert torch.equal(a, b)


def test_same_seed_same_image_different_seed_different_image(subject_path):
    system = build("ablations/ezigen-sd21-fixed-3", "sampling.steps=10")
    a = system.generate(PROMPT, subject=subject_path, subject_prompt="a disc", seed=8)
    b = system.generate(PROMPT, subject=subject_path, subject_prompt="a disc", seed=8)
    c = system.generate(PROMPT, subject=subject_path, subject_prompt="a disc", seed=9)
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
    assert not np.array_equal(np.asarray(a.image), np.asarray(c.image))
    assert b.trace.totals["subject_encodings"] == 0  # cached: the second call encodes nothing


@pytest.mark.parametrize("mode, first_timestep", [("official", 381), ("snap", 381)])
def test_renoise_modes_restart_at_the_scheduled_index(subject_path, mode, first_timestep):
    system = build("ablations/ezigen-sd21-fixed-3", f"refinement.renoise={mode}")
    result = system.generate(PROMPT, subject=subject_path, subject_prompt="a disc", seed=1)
    assert result.trace.steps_of(1)[0].timestep == first_timestep


def test_renoise_modes_differ_only_in_the_noise_level(subject_path):
    official = build("ablations/ezigen-sd21-fixed-3", "sampling.steps=10", "refinement.renoise=official")
    snap = build("ablations/ezigen-sd21-fixed-3", "sampling.steps=10", "refinement.renoise=snap")
    a = official.generate(PROMPT, subject=subject_path, subject_prompt="a disc", seed=1)
    b = snap.generate(PROMPT, subject=subject_path, subject_prompt="a disc", seed=1)
    assert [s.timestep for s in a.trace.steps] == [s.timestep for s in b.trace.steps]
    assert not torch.equal(a.latents, b.latents)


def test_no_vae_roundtrip_skips_the_vae_between_iterations(subject_path):
    system = build("ablations/ezigen-sd21-fixed-3", "sampling.steps=10", "refinement.vae_roundtrip=false")
    totals = system.generate(PROMPT, subject=subject_path, subject_prompt="a disc", seed=1).trace.totals
    assert totals["iterations"] == 3
    assert totals["vae_encodes"] == 1  # the subject only
    assert totals["vae_decodes"] == 1  # the final image only


def test_no_decoupling_has_the_subject_on_at_every_step(subject_path):
    system = build("ablations/ezigen-sd21-no-decoupling", "refinement.stop.type=fixed",
                   "refinement.stop.iterations=1")
    trace = system.generate(PROMPT, subject=subject_path, subject_prompt="a disc", seed=1).trace
    assert all(s.subject for s in trace.steps)
    assert trace.steps_of(1)[0].timestep == 381  # refinement still revisits the last 40%


def test_subject_guidance_adds_a_subject_free_branch(subject_path):
    system = build("ablations/ezigen-sd21-single-pass", "sampling.steps=10", "guidance.subject_guidance=2.0")
    trace = system.generate(PROMPT, subject=subject_path, subject_prompt="a disc", seed=1).trace
    on = sum(s.subject for s in trace.steps)
    assert on == 4
    assert trace.totals["unet_evals"] == 1 + 2 * (10 - on) + 3 * on


def test_several_prompts_and_images_per_prompt_in_one_batch(subject_path):
    system = build("ablations/ezigen-sd21-single-pass", "sampling.steps=6")
    result = system.generate(["a disc", "a disc in snow"], subject=subject_path, subject_prompt="a disc", seed=1,
                             num_images=2)
    assert len(result.images) == 4 and result.latents.shape[0] == 4
    assert result.trace.totals["unet_evals"] == 1 + 6 * 2 * 4


def test_subject_is_required_and_refused_where_it_does_not_fit(subject_path):
    from ezigen.errors import EzigenError

    with pytest.raises(EzigenError, match="needs a subject image"):
        build("ablations/ezigen-sd21-single-pass", "sampling.steps=2").generate("x")
    with pytest.raises(EzigenError, match="has no subject_encoder"):
        build("text-only-sd21-base", "sampling.steps=2").generate("x", subject=subject_path)


@needs_dreambench
def test_done_when_command_runs_twice_identically(tmp_path):
    from ezigen.cli.main import main

    dog = os.path.join(DREAMBENCH, "dog", "00.jpg")
    outputs = []
    for run in ("a", "b"):
        out = tmp_path / run
        main(["generate", "ezigen-sd21-base", "--tiny", "--subject", dog, "--subject-prompt", "a dog",
              "--prompt", "a dog on the beach", "--seed", "3", "--out", str(out)])
        outputs.append((out / "image.png").read_bytes())
        trace = json.loads((out / "trace.json").read_text())
        assert sum(s["subject"] for s in trace["steps"] if s["iteration"] == 0) == 20
        assert trace["totals"]["iterations"] >= 3
    assert outputs[0] == outputs[1]
