"""The command line: outputs, and one clear message + exit status 2 for every kind of bad input."""

import json
import os

import pytest

from tests.conftest import run_cli as run


def assert_user_error(code, err, *fragments):
    assert code == 2, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err


@pytest.mark.smoke
def test_generate_writes_image_recipe_and_trace(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, err = run(["generate", "text-only-sd21-base", "--tiny", "--prompt", "a cat", "--out", str(out),
                             "--set", "sampling.steps=6"], capsys)
    assert code == 0, err
    assert stdout.strip() == str(out / "image.png")
    assert sorted(os.listdir(out)) == ["image.png", "recipe.yaml", "trace.json"]
    trace = json.loads((out / "trace.json").read_text())
    assert len(trace["steps"]) == 6
    assert set(trace["steps"][0]) == {"iteration", "index", "timestep", "subject", "text_scale", "subject_scale"}
    assert set(trace["totals"]) >= {"unet_evals", "subject_encodings", "vae_encodes", "vae_decodes", "iterations", "seconds"}
    assert trace["totals"]["unet_evals"] == 12  # CFG batch of 2 per step
    assert trace["provenance"]["models"] == {"backbone": {"kind": "builtin", "name": "tiny:sd21"}}
    assert trace["provenance"]["device"]["device"] == "cpu" and trace["provenance"]["versions"]["torch"]
    import ezigen

    resolved = ezigen.load_recipe(str(out / "recipe.yaml"))
    assert resolved.sampling.steps == 6 and resolved.backbone.config.pretrained == "tiny:sd21"


@pytest.mark.parametrize("text, fragment", [
    ("backbone: {pretrained: tiny:sd21, schedulr: ddpm}\n", "backbone.schedulr: unknown key (did you mean 'scheduler'?)"),
    ("backbone: {type: stable-difusion}\n", "backbone.type: unknown backbone 'stable-difusion'"),
    ("backbone: {pretrained: tiny:sd21}\nsampling: {steps: many}\n", "sampling.steps: expected an integer"),
    ("backbone: {pretrained: tiny:sd21}\nsampling: {steps: -3}\n", "sampling.steps: must be >= 1"),
    ("backbone: {pretrained: tiny:sd21}\nbackbone: {}\n", "duplicate key 'backbone'"),
    ("- just\n- a list\n", "top level must be a mapping"),
    ("", "the recipe is empty"),
])
def test_bad_recipes(tmp_path, capsys, text, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    out = tmp_path / "out"
    code, _, err = run(["generate", str(path), "--prompt", "x", "--out", str(out)], capsys)
    assert_user_error(code, err, fragment)
    assert not (out / "image.png").exists()


def test_binary_garbage_recipe(tmp_path, capsys):
    path = tmp_path / "garbage.yaml"
    path.write_bytes(os.urandom(2048) + b"\x00\xff")
    code, _, err = run(["recipes", "validate", str(path)], capsys)
    assert_user_error(code, err, "not a")


def test_unknown_recipe_name(capsys):
    code, _, err = run(["generate", "ezigen-sd21-bas", "--prompt", "x", "--tiny"], capsys)
    assert_user_error(code, err, "unknown recipe 'ezigen-sd21-bas'", "did you mean 'ezigen-sd21-base'")


def test_bad_set_expression(capsys):
    code, _, err = run(["generate", "text-only-sd21-base", "--prompt", "x", "--set", "sampling.steps"], capsys)
    assert_user_error(code, err, "is not KEY=VALUE")


def test_missing_out_value(capsys):
    code, _, err = run(["generate", "text-only-sd21-base", "--prompt", "x", "--out"], capsys)
    assert code == 2 and "requires an argument" in err


def test_unwritable_out(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, err = run(["generate", "text-only-sd21-base", "--tiny", "--prompt", "x", "--out", str(blocker / "sub")],
                       capsys)
    assert_user_error(code, err, "--out", "not writable")
    code, _, err = run(["generate", "text-only-sd21-base", "--tiny", "--prompt", "x", "--out", str(blocker)], capsys)
    assert_user_error(code, err, "exists and is not a folder")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_read_only_out(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    code, _, err = run(["generate", "text-only-sd21-base", "--tiny", "--prompt", "x", "--out", str(folder / "x")], capsys)
    assert_user_error(code, err, "not writable")


def test_sdxl_only_option_on_an_sd21_backbone(tmp_path, capsys):
    code, _, err = run(["generate", "text-only-sd21-base", "--tiny", "--prompt", "x", "--out", str(tmp_path / "o"),
                        "--set", "backbone.crops_coords_top_left=[0, 0]"], capsys)
    assert_user_error(code, err, "backbone.crops_coords_top_left: is an SDXL option", "SD2.1-style")
    assert not (tmp_path / "o" / "image.png").exists()


def test_hub_id_offline_is_a_clear_error(tmp_path, capsys):
    code, _, err = run(["generate", "text-only-sd21-base", "--prompt", "x", "--out", str(tmp_path / "o")], capsys)
    assert_user_error(code, err, "stabilityai/stable-diffusion-2-1-base", "--tiny")


def test_recipes_list_show_validate(capsys):
    code, out, _ = run(["recipes", "list"], capsys)
    assert code == 0 and "ezigen-sd21-base" in out and "text-only-sdxl-base" in out
    code, out, _ = run(["recipes", "show", "ablations/ezigen-sd21-single-pass"], capsys)
    assert code == 0 and "extends:" in out
    code, out, _ = run(["recipes", "show", "ablations/ezigen-sd21-single-pass", "--resolved"], capsys)
    assert code == 0 and "extends" not in out and "refinement: null" in out and "adapter-attention" in out
    code, out, _ = run(["recipes", "validate", "ezigen-sd21-base", "text-only-sdxl-base"], capsys)
    assert code == 0 and out.count("ok:") == 2


def test_tiny_save_writes_loadable_folders(tmp_path, capsys):
    code, out, _ = run(["tiny", "save", "sdxl", str(tmp_path / "xl")], capsys)
    assert code == 0
    from diffusers import StableDiffusionXLPipeline

    pipe = StableDiffusionXLPipeline.from_pretrained(str(tmp_path / "xl"), local_files_only=True)
    assert pipe.text_encoder_2 is not None


def test_cheap_checks_come_before_any_model_loads(capsys, monkeypatch):
    import ezigen.build

    def must_not_build(*args, **kwargs):
        raise AssertionError("a model was built before the cheap checks")

    monkeypatch.setattr(ezigen.build, "build_system", must_not_build)
    import torch

    if not torch.cuda.is_available():
        code, out, err = run(["generate", "text-only-sd21-base", "--tiny", "-p", "x", "--device", "cuda"], capsys)
        assert code == 2 and "no usable CUDA device" in err and "Traceback" not in err
    code, out, err = run(["generate", "ezigen-sd21-base", "--tiny", "-p", "x"], capsys)
    assert code == 2 and "needs a subject image" in err
    code, out, err = run(["generate", "text-only-sd21-base", "--tiny", "-p", "x", "--device", "tpu"], capsys)
    assert code == 2 and "expected auto, cpu, cuda" in err


def test_prompts_times_seeds_in_one_run_each_image_as_alone(tmp_path, capsys):
    from PIL import Image, ImageChops

    out = tmp_path / "batch"
    code, stdout, err = run(["generate", "text-only-sd21-base", "--tiny", "-p", "a cat", "-p", "a dog", "--seeds",
                             "0,1", "--steps", "2", "--out", str(out)], capsys)
    assert code == 0, err
    names = ["image-p0-s0.png", "image-p0-s1.png", "image-p1-s0.png", "image-p1-s1.png"]
    assert stdout.split() == [str(out / n) for n in names]
    assert (out / "grid.png").exists()
    trace = json.loads((out / "trace.json").read_text())
    assert trace["seed"] == [0, 1, 0, 1] and trace["prompts"] == ["a cat", "a dog"] and trace["images"] == names
    alone = tmp_path / "alone"
    code, stdout, err = run(["generate", "text-only-sd21-base", "--tiny", "-p", "a dog", "--seed", "1", "--steps", "2",
                             "--out", str(alone)], capsys)
    assert code == 0 and stdout.split() == [str(alone / "image.png")]
    difference = ImageChops.difference(Image.open(alone / "image.png"), Image.open(out / "image-p1-s1.png"))
    assert max(difference.getextrema(), key=lambda e: e[1])[1] <= 1


def test_an_existing_out_needs_overwrite_and_keeps_the_old_result_until_the_new_is_complete(tmp_path, capsys):
    out = tmp_path / "o"
    base = ["generate", "text-only-sd21-base", "--tiny", "-p", "a cat", "--steps", "1", "--out", str(out)]
    assert run(base, capsys)[0] == 0
    before = (out / "image.png").read_bytes()
    code, _, err = run(base + ["--seed", "5"], capsys)
    assert_user_error(code, err, "already holds files", "--overwrite")
    code, _, err = run(base + ["--seed", "5", "--set", "sampling.steps=0"], capsys)  # fails before writing
    assert code == 2 and (out / "image.png").read_bytes() == before
    assert run(base + ["--seed", "5", "--overwrite"], capsys)[0] == 0
    assert (out / "image.png").read_bytes() != before
    assert json.loads((out / "trace.json").read_text())["seed"] == [5]
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".o.tmp-")]  # no staging folder left


def test_an_unreachable_hub_fails_at_once_without_retries(tmp_path, capsys, monkeypatch):
    import time

    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "https://hub.invalid")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    start = time.monotonic()
    code, _, err = run(["generate", "text-only-sd21-base", "--prompt", "x", "--out", str(tmp_path / "o")], capsys)
    assert_user_error(code, err, "cannot be reached", "--tiny", "HF_HUB_OFFLINE=1")
    assert time.monotonic() - start < 10
