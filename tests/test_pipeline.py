"""EZIGenPipeline, used as diffusers users use a pipeline: from a loaded pipe, diffusers' argument
meanings, callbacks, interrupt, output types; the pipe it came from is left exactly as it was."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ezigen
from ezigen.errors import EzigenError

STEPS = 4


@pytest.fixture(scope="module")
def sd(tiny_folders):
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(tiny_folders["sd21"], safety_checker=None,
                                                   requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def ezigen_pipe(sd):
    pipe = ezigen.EZIGenPipeline.from_pipe(sd, recipe="ezigen-sd21-base", tiny=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def seeded():
    return torch.Generator().manual_seed(0)


def plain(sd, negative):
    return sd("a photo of a cat", height=64, width=64, num_inference_steps=STEPS, guidance_scale=7.5,
              negative_prompt=negative, generator=seeded(), output_type="np").images


def test_a_text_only_recipe_equals_the_plain_pipeline(sd):
    pipe = ezigen.EZIGenPipeline.from_pipe(sd, recipe="text-only-sd21-base", tiny=True,
                                           overrides=["backbone.scheduler=null"])  # the pipe's own scheduler
    negative = pipe.recipe.guidance.config.negative_prompt
    ours = pipe("a photo of a cat", height=64, width=64, num_inference_steps=STEPS, guidance_scale=7.5,
                generator=seeded(), output_type="np").images
    assert ours.shape == (1, 64, 64, 3)
    assert np.abs(ours - plain(sd, negative)).max() <= 1 / 255


def test_the_ezigen_recipe_shares_the_modules_and_leaves_the_pipe_unchanged(sd, ezigen_pipe, subject_image):
    negative = ezigen_pipe.recipe.guidance.config.negative_prompt
    before = plain(sd, negative)
    processors = dict(sd.unet.attn_processors)
    assert ezigen_pipe.unet is sd.unet and ezigen_pipe.vae is sd.vae and ezigen_pipe.text_encoder is sd.text_encoder
    assert ezigen_pipe.system.backbone.unet is sd.unet
    out = ezigen_pipe("a photo of a cat", subject_image=subject_image, subject_prompt="a disc",
                      num_inference_steps=STEPS, generator=seeded())
    assert out.images[0].size == (64, 64) and out.trace.steps
    assert dict(sd.unet.attn_processors) == processors
    assert np.array_equal(plain(sd, negative), before)


def test_build_system_takes_a_loaded_pipeline(sd):
    system = ezigen.build_system(ezigen.load_recipe("text-only-sd21-base", tiny=True), backbone=sd)
    assert system.backbone.unet is sd.unet
    assert system.generate("a cat", seed=1, steps=2).image.size == (64, 64)


def test_callback_runs_once_per_trace_step_refinement_included(ezigen_pipe, subject_image):
    seen = []

    def callback(pipe, step, timestep, kwargs):
        assert pipe is ezigen_pipe and set(kwargs) == {"latents"}
        seen.append((step, int(timestep)))
        return {}

    out = ezigen_pipe("a cat", subject_image=subject_image, subject_prompt="a disc", num_inference_steps=STEPS,
                      generator=seeded(), callback_on_step_end=callback)
    assert [s for s, _ in seen] == list(range(len(out.trace.steps)))
    assert [t for _, t in seen] == [step.timestep for step in out.trace.steps]
    assert any(step.iteration > 0 for step in out.trace.steps)  # refinement steps reached the callback too


def test_callback_can_replace_latents_and_interrupt(ezigen_pipe, subject_image):
    def zero_after_last(pipe, step, timestep, kwargs):
        if step == STEPS - 1:
            pipe._interrupt = True
            return {"latents": torch.zeros_like(kwargs["latents"])}
        return {}

    out = ezigen_pipe("a cat", subject_image=subject_image, subject_prompt="a disc", num_inference_steps=STEPS,
                      generator=seeded(), callback_on_step_end=zero_after_last, output_type="latent")
    assert len(out.trace.steps) == STEPS  # no refinement after the interrupt
    assert torch.count_nonzero(out.images) == 0


def test_output_types_and_per_call_settings(ezigen_pipe, subject_image):
    kwargs = dict(subject_image=subject_image, subject_prompt="a disc", num_inference_steps=2, generator=seeded())
    pt = ezigen_pipe("a cat", output_type="pt", **kwargs).images
    assert tuple(pt.shape) == (1, 3, 64, 64) and 0 <= float(pt.min()) and float(pt.max()) <= 1
    two = ezigen_pipe("a cat", num_images_per_prompt=2, guidance_scale=1.0, **kwargs)
    assert len(two.images) == 2 and all(step.text_scale == 1.0 for step in two.trace.steps if step.iteration == 0)
    images, = ezigen_pipe("a cat", return_dict=False, **kwargs)
    assert len(images) == 1
    with pytest.raises(EzigenError, match="output_type"):
        ezigen_pipe("a cat", output_type="jpeg", **kwargs)
    with pytest.raises(EzigenError, match="width: must be a positive multiple of 8, got 36"):
        ezigen_pipe("a cat", height=64, width=36, **kwargs)


@pytest.mark.parametrize("kind", ["sd21", "sdxl"])
def test_non_square_sizes(kind, subject_image):
    """height != width: the latents, the SDXL time ids and the image take the asked size; the subject is
    still encoded at backbone.resolution; the recipe's own size is back after the call."""
    from ezigen.builtins.backbones.tiny import tiny_pipeline

    sd = tiny_pipeline(f"tiny:{kind}")
    pipe = ezigen.EZIGenPipeline.from_pipe(sd, recipe=f"ezigen-{kind}-base", tiny=True,
                                           overrides=["refinement=null"])
    pipe.set_progress_bar_config(disable=True)
    seen = []
    unet_forward = sd.unet.forward

    def spy(sample, *args, **kwargs):
        seen.append((tuple(sample.shape[-2:]), kwargs.get("added_cond_kwargs")))
        return unet_forward(sample, *args, **kwargs)

    sd.unet.forward = spy
    try:
        out = pipe("a cat", subject_image=subject_image, subject_prompt="a disc", height=48, width=80,
                   num_inference_steps=2, generator=seeded(), output_type="pt")
    finally:
        del sd.unet.forward
    assert tuple(out.images.shape) == (1, 3, 48, 80)
    assert (6, 10) in {shape for shape, _ in seen}  # denoising at 48x80 px
    assert (8, 8) in {shape for shape, _ in seen}  # the subject, encoded at the 64 px resolution
    if kind == "sdxl":
        time_ids = [extra["time_ids"] for shape, extra in seen if shape == (6, 10)][0]
        assert time_ids[0].tolist() == [48, 80, 0, 0, 48, 80]
    assert pipe.system.backbone.size == (64, 64)


def test_a_trained_run_exports_to_a_folder_that_generate_and_from_pretrained_load(tmp_path, capsys, subject_path):
    import json as json_

    from PIL import Image, ImageChops

    from tests.conftest import run_cli
    from tests.training_data import write_dataset

    data, run = write_dataset(str(tmp_path / "data"), count=4), tmp_path / "run"
    code, _, err = run_cli(["train", "ablations/ezigen-sd21-single-pass", "--tiny", "--no-progress", "--data", data,
                            "--out", str(run), "--set", "training.max_steps=2", "--set", "training.batch_size=2"], capsys)
    assert code == 0, err
    exported = tmp_path / "export"
    code, out, err = run_cli(["export", str(run), str(exported)], capsys)
    assert code == 0, err
    assert sorted(p.name for p in exported.iterdir()) == ["README.md", "fusion.safetensors", "recipe.yaml"]
    assert "fusion.safetensors" in (exported / "recipe.yaml").read_text()
    assert "tiny:sd21" in (exported / "README.md").read_text()

    args = ["--subject", subject_path, "--subject-prompt", "a disc", "-p", "a disc", "--seed", "2", "--steps", "2"]
    code, _, err = run_cli(["generate", str(exported), *args, "--out", str(tmp_path / "a")], capsys)
    assert code == 0, err
    trained = json_.loads((tmp_path / "a" / "trace.json").read_text())
    code, _, err = run_cli(["generate", str(run / "recipe.yaml"), *args, "--out", str(tmp_path / "b")], capsys)
    assert code == 0, err  # the run's own recipe has no weights: the untrained adapter
    untrained = ImageChops.difference(Image.open(tmp_path / "a" / "image.png"), Image.open(tmp_path / "b" / "image.png"))
    assert untrained.getbbox() is not None and trained["steps"]

    pipe = ezigen.EZIGenPipeline.from_pretrained(str(exported))
    pipe.set_progress_bar_config(disable=True)
    image = pipe("a disc", subject_image=subject_path, subject_prompt="a disc", num_inference_steps=2,
                 generator=torch.Generator().manual_seed(2)).images[0]
    assert ImageChops.difference(image, Image.open(tmp_path / "a" / "image.png")).getbbox() is None
    again = tmp_path / "again"
    pipe.save_pretrained(str(again))
    from safetensors.torch import load_file

    saved, original = load_file(str(again / "fusion.safetensors")), load_file(str(exported / "fusion.safetensors"))
    assert saved.keys() == original.keys() and all(torch.equal(saved[k], original[k]) for k in saved)
