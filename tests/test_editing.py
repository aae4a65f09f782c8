"""Subject-driven editing (spec §4.4): ``ezigen edit`` end to end on the toy world and tiny SD2.1, the
trace and cost model, the inversion against diffusers' scheduler, the released inversion text, the
blend indices, and EZIGenPipeline's image= / mask_image=."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import ezigen
from tests.conftest import run_cli

# fast settings: 10 steps, inversion 4 of 10 steps, one iteration (the shipped recipes run 50 / 20 of 50)
FAST_TOY = ["sampling.steps=10", "editing.inversion_steps=10", "refinement.stop.iterations=1"]
FAST_TINY = ["sampling.steps=10", "editing.inversion_steps=10", "refinement.stop.type=fixed",
             "refinement.stop.iterations=1"]


def sets(overrides):
    return [arg for o in overrides for arg in ("--set", o)]


@pytest.fixture(scope="module")
def toy_files(tmp_path_factory):
    """A held-out toy scene (source), its subject's mask and another held-out subject's crop."""
    from ezigen.toy.editing import render_mask
    from ezigen.toy.table import heldout_scenes
    from ezigen.toy.world import render_crop, render_scene

    scene, inserted = heldout_scenes(1, 0)[0]
    root = tmp_path_factory.mktemp("toy-edit")
    files = {"image": root / "scene.png", "mask": root / "mask.png", "subject": root / "crop.png"}
    render_scene(scene).save(files["image"])
    render_mask(scene).save(files["mask"])
    render_crop(inserted).save(files["subject"])
    return {k: str(v) for k, v in files.items()} | {"caption": scene.caption, "class": inserted.class_prompt}


def edit_args(files, recipe="toy/ezigen-edit"):
    return ["edit", recipe, "--image", files["image"], "--mask", files["mask"], "--subject", files["subject"],
            "--subject-prompt", files["class"], "--prompt", files["caption"]]


GENERATE_STEP_KEYS = {"iteration", "index", "timestep", "subject", "text_scale", "subject_scale"}  # DESIGN §6


def check_trace(trace, recipe):
    """Each iteration: K inversion entries (``"kind": "inversion"``, no CFG, subject off), then the T - k0
    denoising entries, which are generate's (the same keys, no ``kind``) with the subject on; the UNet
    evaluations are one row per inversion step and two (CFG) per denoising step, as the cost model says."""
    from ezigen.cost import edit_unet_evals
    from ezigen.editing.run import edit_plan

    plan = edit_plan(recipe)
    iterations = int(trace["totals"]["iterations"])
    assert iterations >= 1
    expected = []
    for n in range(1, iterations + 1):
        expected += [("inversion", n, i, False, 1.0) for i in range(plan.inversion_stop)]
        expected += [("denoise", n, plan.restart + i, True, recipe.editing.text_scale)
                     for i in range(plan.denoise_steps)]
    got = [(s.get("kind", "denoise"), s["iteration"], s["index"], s["subject"], s["text_scale"])
           for s in trace["steps"]]
    assert got == expected
    for step in trace["steps"]:
        assert set(step) == (GENERATE_STEP_KEYS | {"kind"} if "kind" in step else GENERATE_STEP_KEYS)
    rows = sum(1 if s.get("kind") == "inversion" else 2 for s in trace["steps"])
    assert trace["totals"]["unet_evals"] == rows + edit_unet_evals(recipe, 0)  # + the subject encoding's
    assert trace["totals"]["unet_evals"] == edit_unet_evals(recipe, iterations)


def test_toy_edit_keeps_the_background_and_changes_the_mask(toy_files, tmp_path, capsys):
    from ezigen.toy.editing import dilate

    out = tmp_path / "out"
    code, stdout, stderr = run_cli([*edit_args(toy_files), *sets(FAST_TOY), "--out", str(out)], capsys)
    assert code == 0, stderr
    assert stdout.strip() == str(out / "image.png")
    edited = np.asarray(Image.open(out / "image.png").convert("RGB"), dtype=np.float64)
    source = np.asarray(Image.open(toy_files["image"]).convert("RGB"), dtype=np.float64)
    mask = Image.open(toy_files["mask"]).convert("L")
    outside = ~(np.asarray(dilate(mask)) > 0)
    inside = np.asarray(mask) > 0
    assert np.abs(edited - source)[outside].mean() <= 2.0  # <= 2/255 (the toy autoencoder is exact: 0 here)
    assert np.abs(edited - source)[inside].mean() > 10.0
    recipe = ezigen.load_recipe(str(out / "recipe.yaml"))
    assert recipe.editing.blend_index.value == "corrected"
    trace = json.loads((out / "trace.json").read_text())
    check_trace(trace, recipe)
    check_provenance(trace, recipe)
    assert trace["inputs"] == {"image": toy_files["image"], "mask": toy_files["mask"],
                               "subjects": [toy_files["subject"]], "subject_prompt": toy_files["class"],
                               "prompt": toy_files["caption"], "seed": recipe.sampling.seed}
    assert trace["seed"] == recipe.sampling.seed and trace["prompts"] == [toy_files["caption"]]


def check_provenance(trace, recipe):
    """The block `ezigen generate` writes (ezigen.provenance): versions, the device, each model's source."""
    from ezigen.provenance import library_versions, provenance, recipe_models

    block = trace["provenance"]
    assert set(block) == {"versions", "device", "models"}
    assert block["versions"] == library_versions()
    assert block["device"] == {"device": "cpu", "dtype": "float32", "cuda": None}
    expected = provenance(recipe_models(recipe))["models"]
    assert set(block["models"]) == set(expected) and block["models"]["backbone"]["kind"] in ("builtin", "local")
    assert {k: v for k, v in block["models"].items() if k != "backbone"} == \
        {k: v for k, v in expected.items() if k != "backbone"}


def test_tiny_sd21_edit_runs_on_a_non_square_source(subject_path, tmp_path, capsys):
    source, mask = tmp_path / "wide.png", tmp_path / "mask.png"
    Image.new("RGB", (150, 100), (40, 120, 200)).save(source)  # 3:2 -> 96 x 64 at the tiny short side 64
    box = Image.new("L", (150, 100), 0)
    box.paste(255, (45, 15, 105, 75))
    box.save(mask)
    out = tmp_path / "out"
    code, _, stderr = run_cli(["edit", "ezigen-sd21-edit", "--tiny", "--image", str(source), "--mask", str(mask),
                               "--subject", subject_path, "--subject-prompt", "a ball", "--prompt", "a ball",
                               *sets(FAST_TINY), "--out", str(out)], capsys)
    assert code == 0, stderr
    assert "warning" not in stderr
    assert Image.open(out / "image.png").size == (96, 64)
    trace = json.loads((out / "trace.json").read_text())
    assert trace["extra"]["editing"]["size"] == [96, 64]
    check_trace(trace, ezigen.load_recipe(str(out / "recipe.yaml")))


@pytest.fixture(scope="module")
def tiny_edit():
    from tests.conftest import build

    return build("ezigen-sd21-edit", *FAST_TINY)


def test_inversion_is_diffusers_inverse_scheduler(tiny_edit):
    from diffusers import DPMSolverMultistepInverseScheduler

    from ezigen.editing.inversion import invert, make_inverse_scheduler
    from ezigen.editing.null_text import inversion_conditioning
    from ezigen.sampling.trace import Trace

    backbone = tiny_edit.backbone
    assert isinstance(make_inverse_scheduler(backbone, 10), DPMSolverMultistepInverseScheduler)
    embeds = inversion_conditioning(backbone, tiny_edit.recipe.editing)
    start = torch.randn((1, 4, 8, 12), generator=torch.Generator().manual_seed(1))
    trace = Trace()
    ours = invert(backbone, start, embeds, 10, 4, trace=trace, iteration=1)

    sampler = backbone.make_scheduler().config
    scheduler = DPMSolverMultistepInverseScheduler.from_config(
        backbone.scheduler_config, timestep_spacing=sampler.timestep_spacing, steps_offset=sampler.steps_offset)
    scheduler.set_timesteps(10)
    latents, direct = start, [start]
    with torch.no_grad():
        for t in scheduler.timesteps[:4]:
            eps = backbone.unet(latents, t, encoder_hidden_states=embeds.embeds).sample
            latents = scheduler.step(eps, t, latents).prev_sample
            direct.append(latents)
    assert len(ours) == 5
    for a, b in zip(ours, direct):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(ours[-1], start)
    assert [s.timestep for s in trace.steps] == [int(t) for t in scheduler.timesteps[:4]]
    assert {s.kind for s in trace.steps} == {"inversion"} and trace.totals["unet_evals"] == 4


def test_released_inversion_text(tiny_edit):
    """Token 7788 (mod V) everywhere and no positions: the same vector at every position; the encoder is
    left as it was."""
    import attrs

    from ezigen.editing.config import InversionText
    from ezigen.editing.null_text import inversion_conditioning, released_token_id

    backbone = tiny_edit.backbone
    config = tiny_edit.recipe.editing
    before = backbone.encode_prompt(["a ball"], None, cfg=False).cond.embeds
    released = inversion_conditioning(backbone, config).embeds  # (1, L, D)
    assert torch.allclose(released, released[:, :1].expand_as(released), atol=1e-5)
    empty = inversion_conditioning(backbone, attrs.evolve(config, inversion_text=InversionText.EMPTY_PROMPT)).embeds
    assert not torch.allclose(released, empty)
    torch.testing.assert_close(backbone.encode_prompt(["a ball"], None, cfg=False).cond.embeds, before)
    assert released_token_id(config, backbone.text_encoder) == 7788 % backbone.text_encoder.config.vocab_size


@pytest.mark.parametrize("recipe", ["ezigen-sd21-edit", "toy/ezigen-edit"])
def test_inversion_ends_at_the_first_denoising_timestep(recipe):
    """Shipped N = T = 50, f = 0.4: the inversion visits 1, 20, ..., 362 (the sampler's "leading" spacing and
    steps_offset 1, not the inverse scheduler's own "linspace" 0, 20, ..., 380, which tiny:sd21's config
    leaves it), so x_inv[K] sits at timesteps[K] = 381 = the sampler's timesteps[k0], where the subject-on
    DDPM steps start; the last visited inversion timestep is the one before it."""
    from ezigen.editing.inversion import make_inverse_scheduler
    from ezigen.editing.run import edit_plan
    from tests.conftest import build

    system = build(recipe, tiny=recipe.startswith("ezigen-"))
    plan = edit_plan(system.recipe)
    assert (plan.steps, plan.inversion_steps, plan.restart, plan.inversion_stop) == (50, 50, 30, 20)
    sampler = system.backbone.make_scheduler()
    sampler.set_timesteps(plan.steps)
    inverse = make_inverse_scheduler(system.backbone, plan.inversion_steps, sampler)
    visited = [int(t) for t in inverse.timesteps[:plan.inversion_stop]]
    assert visited[:3] == [1, 20, 39] and visited[-1] == 362
    assert int(inverse.timesteps[plan.inversion_stop]) == int(sampler.timesteps[plan.restart]) == 381
    assert inverse.config.timestep_spacing == sampler.config.timestep_spacing == "leading"


def test_trace_step_kinds_are_a_closed_set():
    from ezigen.sampling.trace import TraceStep

    step = dict(iteration=1, index=0, timestep=1, subject=False, text_scale=1.0, subject_scale=0.0)
    assert TraceStep(**step).kind == "denoise"
    with pytest.raises(ValueError, match="'kind' must be in .*'denoise', 'inversion'.*'invert'"):
        TraceStep(**step, kind="invert")


@pytest.mark.parametrize("mode, first", [("released", 0), ("corrected", 1)])
def test_blend_index(mode, first):
    from ezigen.editing.blend import Blender
    from ezigen.editing.config import BlendIndex

    reference = [torch.full((1, 1, 1, 2), float(k)) for k in range(4)]  # z_0 .. z_3 (K = 3)
    mask = torch.tensor([[[[1.0, 0.0]]]])  # edit the left cell, keep the right one
    blender = Blender(mask, start=7, mode=BlendIndex(mode))
    blender.keep(reference)
    blender.keep([r + 100 for r in reference])  # later iterations do not replace the first one's latents
    latents = torch.full((1, 1, 1, 2), -1.0)
    for i in range(3):
        out = blender(7 + i, 0, latents)
        assert out[0, 0, 0, 0] == -1.0  # inside the mask: the denoised latent
        assert out[0, 0, 0, 1] == 3.0 - (i + first)  # outside: x_inv[::-1][i] or [i + 1]


def test_pipeline_image_and_mask_image_are_system_edit(toy_files):
    from diffusers import StableDiffusionPipeline

    from ezigen.toy.backbone import TOY_BASE

    base = StableDiffusionPipeline.from_pretrained(TOY_BASE, safety_checker=None, requires_safety_checker=False)
    pipe = ezigen.EZIGenPipeline.from_pipe(base, recipe="toy/ezigen-edit", overrides=FAST_TOY)
    pipe.set_progress_bar_config(disable=True)
    args = dict(subject_prompt=toy_files["class"])
    out = pipe(toy_files["caption"], image=toy_files["image"], mask_image=toy_files["mask"],
               subject_image=toy_files["subject"], generator=torch.Generator().manual_seed(5), output_type="np", **args)
    direct = pipe.system.edit(image=toy_files["image"], mask=toy_files["mask"], prompt=toy_files["caption"],
                              subject=toy_files["subject"], seed=5, **args)
    np.testing.assert_array_equal(np.round(out.images[0] * 255).astype(np.uint8), np.asarray(direct.image))
    assert [s.kind for s in out.trace.steps] == [s.kind for s in direct.trace.steps]
    with pytest.raises(ezigen.EzigenError, match="num_inference_steps"):
        pipe(toy_files["caption"], image=toy_files["image"], mask_image=toy_files["mask"],
             subject_image=toy_files["subject"], num_inference_steps=5, **args)


def test_tiny_sdxl_edit_non_square_follows_the_cost_model(subject_image):
    """SDXL: both text encoders in the released inversion text, the edit's own size in the time ids."""
    from tests.conftest import build

    system = build("ezigen-sdxl-edit", "sampling.steps=10", "editing.inversion_steps=10", "refinement.stop.iterations=1")
    source = Image.new("RGB", (64, 96), (200, 80, 40))
    mask = Image.new("L", (64, 96), 0)
    mask.paste(255, (16, 16, 48, 80))
    result = system.edit(source, mask, "a ball", subject=subject_image, subject_prompt="a ball", seed=0)
    assert result.image.size == (64, 96)
    check_trace(result.trace.to_json(), system.recipe)
