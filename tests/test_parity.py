"""Plain paths equal diffusers' own pipelines: the sampling loop's acceptance test."""

import numpy as np
import pytest
import torch
from diffusers import (
    DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, StableDiffusionPipeline, StableDiffusionXLPipeline,
)

from ezigen.cli.main import main

SCHEDULERS = {"ddpm": DDPMScheduler, "ddim": DDIMScheduler, "dpmpp-2m": DPMSolverMultistepScheduler}
CASES = [("sd21", "text-only-sd21-base", StableDiffusionPipeline),
         ("sdxl", "text-only-sdxl-base", StableDiffusionXLPipeline)]
PROMPT = "a red cube on a wooden table"


@pytest.fixture(scope="module")
def pipelines(tiny_folders):
    out = {}
    for kind, _recipe, cls in CASES:
        pipe = cls.from_pretrained(tiny_folders[kind], local_files_only=True)
        pipe.set_progress_bar_config(disable=True)
        out[kind] = pipe
    return out


@pytest.mark.smoke
@pytest.mark.parametrize("scheduler", list(SCHEDULERS))
@pytest.mark.parametrize("kind, recipe, _cls", CASES)
def test_cli_generate_equals_the_diffusers_pipeline(kind, recipe, _cls, scheduler, tiny_folders, pipelines, tmp_path):
    out = tmp_path / "out"
    negative = "blurry, low quality"
    main(["generate", recipe, "--prompt", PROMPT, "--seed", "11", "--out", str(out),
          "--set", f"backbone.pretrained={tiny_folders[kind]}", "--set", f"backbone.scheduler={scheduler}",
          "--set", "backbone.resolution=64", "--set", "sampling.steps=8", "--set", "guidance.text_scale=6.5",
          "--set", f"guidance.negative_prompt={negative}"])
    from PIL import Image

    ours = np.asarray(Image.open(out / "image.png"), dtype=np.int16)
    pipe = pipelines[kind]
    pipe.scheduler = SCHEDULERS[scheduler].from_config(pipe.scheduler.config)
    reference = pipe(PROMPT, negative_prompt=negative, num_inference_steps=8, guidance_scale=6.5, height=64, width=64,
                     generator=torch.Generator("cpu").manual_seed(11)).images[0]
    reference = np.asarray(reference, dtype=np.int16)
    assert ours.shape == reference.shape == (64, 64, 3)
    assert np.abs(ours - reference).max() <= 1  # <= 1/255
    assert reference.std() > 5  # a real image, not a constant


@pytest.mark.parametrize("kind, recipe, _cls", CASES)
def test_default_negative_prompt_matches_the_pipeline_default(kind, recipe, _cls, tiny_folders, pipelines):
    """negative_prompt: null means what negative_prompt=None means to the pipeline (SDXL: zero embeddings)."""
    from tests.conftest import build

    system = build(recipe, f"backbone.pretrained={tiny_folders[kind]}", "backbone.scheduler=ddim",
                   "backbone.resolution=64", "sampling.steps=5", tiny=False)
    ours = np.asarray(system.generate(PROMPT, seed=2).image, dtype=np.int16)
    pipe = pipelines[kind]
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    scale = system.recipe.guidance.config.text_scale
    reference = np.asarray(pipe(PROMPT, num_inference_steps=5, guidance_scale=scale, height=64, width=64,
                                generator=torch.Generator("cpu").manual_seed(2)).images[0], dtype=np.int16)
    assert np.abs(ours - reference).max() <= 1


def test_no_cfg_when_text_scale_is_one(tiny_folders, pipelines):
    from tests.conftest import build

    system = build("text-only-sd21-base", f"backbone.pretrained={tiny_folders['sd21']}", "backbone.scheduler=ddpm",
                   "backbone.resolution=64", "sampling.steps=4", "guidance.text_scale=1.0", tiny=False)
    result = system.generate(PROMPT, seed=5)
    assert result.trace.totals["unet_evals"] == 4  # one row per step: no unconditional branch
    pipe = pipelines["sd21"]
    pipe.scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    reference = pipe(PROMPT, num_inference_steps=4, guidance_scale=1.0, height=64, width=64,
                     generator=torch.Generator("cpu").manual_seed(5)).images[0]
    assert np.abs(np.asarray(result.image, dtype=np.int16) - np.asarray(reference, dtype=np.int16)).max() <= 1
