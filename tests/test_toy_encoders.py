"""Toy encoders (toy:clip, toy:dino): they load through the real encoder classes, their objectives
go down, training resumes exactly, the probe reads attributes out, and a missing toy:clip is one
clear error. Models are trained for a few steps at batch 16 in temporary folders."""

import json
import os

import numpy as np
import pytest

from ezigen.toy.encoders.training import EncoderRun, EncoderTrainingConfig, train_encoder

FAST = dict(batch_size=16, log_every=1000)


def _config(kind, steps, **kwargs):
    return EncoderTrainingConfig(kind=kind, steps=steps, checkpoint_every=1000, **FAST, **kwargs)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A clip and a dino encoder trained for 2 steps (finished folders)."""
    root = tmp_path_factory.mktemp("toy-encoders")
    out = {}
    for kind in ("clip", "dino"):
        out[kind] = str(root / kind)
        summary = train_encoder(out[kind], _config(kind, 2), log=lambda m: None)
        assert summary["steps_done"] == 2 and len(summary["history"]) == 2
        assert os.path.getsize(os.path.join(out[kind], "model.safetensors")) < 1.5e6  # the shipping budget
    return out


def _crop_input(index=0):
    from ezigen.toy.encoders.probe import probe_subjects
    from ezigen.toy.world import render_crop
    from ezigen.values import SubjectInput

    subject = probe_subjects(count=index + 1)[index]
    return SubjectInput.from_images([render_crop(subject)], subject.class_prompt)


@pytest.mark.parametrize("kind, setting, tokens", [
    ("clip", "pooled", 1), ("clip", "patch", 65), ("dino", "all", 65), ("dino", "cls", 1), ("dino", "patch", 64),
])
def test_trained_folders_load_through_the_encoder_classes(folders, kind, setting, tokens):
    from ezigen.builtins.encoders.clip import ClipEmbedding, ClipEncoderConfig, ClipSubjectEncoder
    from ezigen.builtins.encoders.dino import DinoEncoderConfig, DinoSubjectEncoder, DinoTokens

    if kind == "clip":
        encoder = ClipSubjectEncoder.from_config(ClipEncoderConfig(pretrained=folders[kind], subfolder=None,
                                                                   revision=None, embedding=ClipEmbedding(setting)))
        assert type(encoder.model).__name__ == "CLIPVisionModelWithProjection"
    else:
        encoder = DinoSubjectEncoder.from_config(DinoEncoderConfig(pretrained=folders[kind], revision=None,
                                                                   tokens=DinoTokens(setting)))
        assert type(encoder.model).__name__ == "Dinov2Model"
    features = encoder.encode(_crop_input())
    assert tuple(features.tokens.shape) == (1, tokens, 64)
    assert features.extras["null_tokens"].shape[1:] == (tokens, 64)
    assert features.info["image_size"] == 32
    other = encoder.encode(_crop_input(1))  # another subject: other tokens
    assert not np.allclose(features.tokens.numpy(), other.tokens.numpy())


def test_recipes_build_with_a_trained_folder_and_keep_toy_ezigens_training_budget(folders):
    import ezigen

    base = ezigen.load_recipe("toy/ezigen").to_data()["training"]
    for name, kind in (("toy/ezigen-clip-encoder", "clip"), ("toy/ezigen-dino-encoder", "dino"),
                       ("toy/ipadapter-clip", "clip"), ("toy/ipadapter-plus-dino", "dino")):
        recipe = ezigen.load_recipe(name, overrides=[f"subject_encoder.pretrained={folders[kind]}"])
        assert recipe.to_data()["training"] == base, name
        assert recipe.to_data()["backbone"]["pretrained"] == "toy:base"
    system = ezigen.build_system(ezigen.load_recipe("toy/ipadapter-plus-dino",
                                                    overrides=[f"subject_encoder.pretrained={folders['dino']}"]))
    assert tuple(system.encoder.encode(_crop_input()).tokens.shape) == (1, 65, 64)


def test_missing_toy_clip_is_one_clear_error(tmp_path, monkeypatch, request):
    import ezigen
    from ezigen.builtins.encoders.clip import ClipEncoderConfig, ClipSubjectEncoder
    from ezigen.errors import EzigenError
    from ezigen.toy.encoders import models

    from ezigen.builtins import image_models

    def clear_loaded_models():  # loaders are cached per process by name: a shipped toy:clip loaded earlier stays
        for loader in vars(image_models).values():
            if hasattr(loader, "cache_clear"):
                loader.cache_clear()

    clear_loaded_models()
    monkeypatch.setitem(models.EMBEDDED, "toy:clip", str(tmp_path / "not-built"))
    request.addfinalizer(clear_loaded_models)  # the real toy:clip again for later tests
    with pytest.raises(EzigenError, match=r"toy:clip is not built .*ezigen toy encoder clip"):
        ClipSubjectEncoder(ClipEncoderConfig(pretrained="toy:clip"))
    with pytest.raises(EzigenError, match=r"toy:clip is not built"):
        ezigen.build_system(ezigen.load_recipe("toy/ipadapter-clip"))
    with pytest.raises(EzigenError, match=r"'toy:dino' is not a model of this kind"):
        ClipSubjectEncoder(ClipEncoderConfig(pretrained="toy:dino"))


@pytest.mark.parametrize("kind, metric, steps", [("clip", "loss", 12), ("dino", "kl", 20)])
def test_a_few_steps_lower_the_objective(tmp_path, kind, metric, steps):
    """On a batch training never draws: CLIP's InfoNCE, and DINO's KL(teacher || student) part of its loss."""
    from safetensors.torch import load_file

    from ezigen.training.checkpoints import latest_checkpoint

    config = _config(kind, steps, lr=1e-3)  # DINO's default 2.5e-4 needs more than 20 steps to move the KL clearly
    run = EncoderRun(config.resolved())
    loss, info = run.evaluate()
    before = loss if metric == "loss" else info["kl"]
    train_encoder(str(tmp_path), config, log=lambda m: None)
    run.load_state(load_file(os.path.join(latest_checkpoint(str(tmp_path))[1], "modules.safetensors")))
    loss, info = run.evaluate()
    after = loss if metric == "loss" else info["kl"]
    assert after < before - 0.05, (before, after)


@pytest.mark.parametrize("kind", ["clip", "dino"])
def test_resume_after_a_stop_equals_a_straight_run(tmp_path, kind):
    from safetensors.torch import load_file

    straight, stopped = str(tmp_path / "straight"), str(tmp_path / "stopped")
    config = EncoderTrainingConfig(kind=kind, steps=4, checkpoint_every=2, **FAST)
    train_encoder(straight, config, log=lambda m: None)
    partial = train_encoder(stopped, config, log=lambda m: None, stop_after=2)
    assert partial["steps_done"] == 2 and not os.path.exists(os.path.join(stopped, "toy-encoder.json"))
    from ezigen.errors import EzigenError

    with pytest.raises(EzigenError, match="--resume"):
        train_encoder(stopped, config, log=lambda m: None)
    resumed = train_encoder(stopped, config, resume=True, log=lambda m: None)
    assert resumed["history"] == json.loads(open(os.path.join(straight, "toy-encoder.json")).read())["history"]
    a, b = load_file(os.path.join(straight, "model.safetensors")), load_file(os.path.join(stopped, "model.safetensors"))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    with pytest.raises(EzigenError, match="trained with"):
        train_encoder(stopped, EncoderTrainingConfig(kind=kind, steps=6, checkpoint_every=2, **FAST), resume=True,
                      log=lambda m: None)


def test_linear_readout_reads_a_linear_code_and_not_noise():
    from ezigen.toy.encoders.probe import linear_readout

    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 400)
    coded = np.eye(5)[y] @ rng.normal(size=(5, 16)) + 0.05 * rng.normal(size=(400, 16))
    assert linear_readout(coded[:200], y[:200], coded[200:], y[200:], 5) == 1.0
    noise = rng.normal(size=(400, 16))
    assert linear_readout(noise[:200], y[:200], noise[200:], y[200:], 5) < 0.4


def test_probe_reports_every_attribute_against_chance(folders, capsys):
    from ezigen.toy.encoders.probe import main, probe, probe_subjects

    from ezigen.toy.encoders.data import training_subjects

    assert not set(probe_subjects(count=2300)) & set(training_subjects())
    report = probe(folders["dino"], count=80)
    assert set(report) == {"shape", "colour_a", "colour_b", "texture"}
    assert [report[a]["classes"] for a in report] == [6, 10, 10, 5]
    assert all(0 <= r["accuracy"] <= 1 and 0 < r["chance"] < 0.5 for r in report.values())
    assert main(["--encoder", folders["clip"], "--count", "40", "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)[folders["clip"]]) == set(report)
    assert main(["--encoder", folders["clip"] + "-missing"]) == 2
    assert "not a model folder" in capsys.readouterr().err


def test_cli_trains_and_rejects_bad_input(tmp_path, capsys):
    from ezigen.cli.main import main

    def run(*args):
        code = 0
        try:
            main(["toy", "encoder", *args])
        except SystemExit as exit_info:
            code = exit_info.code
        return code, capsys.readouterr()

    code, out = run("clop", "--out", str(tmp_path / "x"))
    assert code == 2 and "clop" in out.err
    assert run("clip", "--out", str(tmp_path / "x"), "--steps", "0")[0] == 2
    folder = tmp_path / "clip"
    code, out = run("clip", "--out", str(folder), "--steps", "1")
    assert code == 0, out.err
    assert json.loads(out.out)["steps_done"] == 1
    assert json.loads((folder / "toy-encoder.json").read_text())["steps_done"] == 1
    assert (folder / "model.safetensors").is_file()
    assert (folder / "checkpoints" / "step-000001" / "state.json").is_file()
    code, out = run("clip", "--out", str(folder), "--steps", "1")
    assert code == 2 and "--resume" in out.err and "Traceback" not in out.err


def test_ship_installs_the_finished_folder_as_toy_name(folders, tmp_path, monkeypatch):
    from ezigen.builtins.encoders.dino import DinoEncoderConfig, DinoSubjectEncoder
    from ezigen.builtins.image_models import load_dino
    from ezigen.errors import EzigenError
    from ezigen.toy.encoders import models
    from ezigen.toy.encoders.training import ship

    target = tmp_path / "assets" / "dino"
    monkeypatch.setitem(models.EMBEDDED, "toy:dino", str(target))
    with pytest.raises(EzigenError, match="not a finished toy encoder"):
        ship(str(tmp_path), "dino")
    load_dino.cache_clear()
    try:
        assert ship(folders["dino"], "dino") == str(target)
        assert (target / "toy-encoder.json").is_file() and not (target / "checkpoints").exists()
        assert ship(folders["dino"], "dino") == str(target)  # over an existing one
        encoder = DinoSubjectEncoder(DinoEncoderConfig(pretrained="toy:dino"))
        assert tuple(encoder.encode(_crop_input()).tokens.shape) == (1, 65, 64)
    finally:
        load_dino.cache_clear()
    assert os.path.getsize(target / "model.safetensors") < 1.5e6
