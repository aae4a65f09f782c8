"""``ezigen edit`` on bad input: one message, exit 2, nothing written, before any model loads (issue 16
item 4); a mask of another aspect ratio is stretched with one warning line; an all-white mask edits
everything; the ``editing:`` recipe section is strict."""

from __future__ import annotations

import pytest
from PIL import Image

import ezigen
from ezigen.errors import RecipeError
from tests.conftest import run_cli
from tests.test_editing import FAST_TOY, sets


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("edit-inputs")
    Image.new("RGB", (32, 32), (128, 128, 128)).save(root / "source.png")
    Image.new("RGB", (32, 32), (0, 0, 0)).save(root / "black.png")
    Image.new("L", (32, 32), 100).save(root / "grey.png")
    Image.new("L", (32, 32), 127).save(root / "grey-127.png")
    (root / "empty.png").write_bytes(b"")
    (root / "folder").mkdir()
    Image.new("L", (64, 32), 255).save(root / "white-wide.png")
    mask = Image.new("L", (32, 32), 0)
    mask.paste(255, (8, 8, 24, 24))
    mask.save(root / "mask.png")
    Image.new("RGB", (32, 32), "white").save(root / "subject.png")
    (root / "notes.txt").write_text("not an image\n")
    return {p.name: str(p) for p in root.iterdir()}


def edit(files, image="source.png", mask="mask.png", out=None, extra=()):
    return ["edit", "toy/ezigen-edit", "--image", files[image], "--mask", files[mask], "--subject",
            files["subject.png"], "--subject-prompt", "a circle", "--prompt", "a circle on a grey background",
            "--out", str(out), *extra]


@pytest.mark.parametrize("image, mask, message", [
    ("source.png", "notes.txt", "mask '.*notes.txt': not an image"),
    ("source.png", "empty.png", "mask '.*empty.png' is empty"),
    ("source.png", "folder", "mask '.*folder' is a folder, expected an image file"),
    ("notes.txt", "mask.png", "source image .*notes.txt.*not an image"),
    ("source.png", "black.png", r"mask '.*black.png': no pixel >= 128 \(white = the region to edit; the brightest is "
     r"0 of 255\), so there is nothing to edit"),
    ("source.png", "grey.png", r"mask '.*grey.png': no pixel >= 128 \(white = the region to edit; the brightest is "
     r"100 of 255\), so there is nothing to edit"),
    ("source.png", "grey-127.png", r"mask '.*grey-127.png': no pixel >= 128 .*the brightest is 127 of 255"),
])
def test_bad_input_exits_2_with_one_message_and_writes_nothing(files, tmp_path, capsys, monkeypatch, image, mask,
                                                               message):
    import re

    import ezigen.build

    def no_models(*_args, **_kwargs):
        raise AssertionError("a model was loaded before the input was checked")

    monkeypatch.setattr(ezigen.build, "build_system", no_models)
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(edit(files, image, mask, out), capsys)
    assert code == 2
    assert stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and re.search(message, lines[0]), stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_missing_mask_names_mask_and_the_path(files, tmp_path, capsys):
    missing = str(tmp_path / "nowhere.png")
    args = edit(files, out=tmp_path / "out")
    args[args.index("--mask") + 1] = missing
    code, _, stderr = run_cli(args, capsys)
    assert code == 2
    assert stderr.strip() == f"error: mask {missing!r} does not exist"


def test_mask_object_errors_say_mask():
    from ezigen.editing.source import check_mask

    with pytest.raises(ezigen.EzigenError, match=r"^mask \(an image\): no pixel >= 128 .*brightest is 100"):
        check_mask(Image.new("L", (8, 8), 100), (8, 8))
    _, warning = check_mask(Image.new("L", (16, 8), 255), (8, 8))
    assert warning.startswith("mask (an image) is 16x8, another aspect ratio than the source (8x8)")


def test_subject_prompt_defaults_to_empty(files, tmp_path, capsys):
    """--subject-prompt left out is '' (documented in --help): the edit runs, conditioned on the empty class text,
    and gives what System.edit gives with subject_prompt='' (and None, its own default)."""
    import json

    import numpy as np

    from tests.conftest import build

    code, stdout, _ = run_cli(["edit", "--help"], capsys)
    assert code == 0
    help_text = " ".join(stdout.split())
    assert "[default: (empty)]" in help_text and "Empty: the encoder is conditioned on the empty prompt ''" in help_text
    out = tmp_path / "out"
    args = edit(files, out=out, extra=sets(FAST_TOY))
    at = args.index("--subject-prompt")
    del args[at:at + 2]
    code, _, stderr = run_cli(args, capsys)
    assert code == 0, stderr
    trace = json.loads((out / "trace.json").read_text())
    assert trace["inputs"]["subject_prompt"] == ""
    system = build("toy/ezigen-edit", *FAST_TOY, tiny=False)
    edited = np.asarray(Image.open(out / "image.png"))
    for subject_prompt in ("", None):
        direct = system.edit(files["source.png"], files["mask.png"], "a circle on a grey background",
                             subject=files["subject.png"], subject_prompt=subject_prompt)
        np.testing.assert_array_equal(np.asarray(direct.image), edited)
    with_class = system.edit(files["source.png"], files["mask.png"], "a circle on a grey background",
                             subject=files["subject.png"], subject_prompt="a circle")
    assert not np.array_equal(np.asarray(with_class.image), edited)  # the class text is used when given


def test_misaligned_inversion_is_a_clear_error_before_models(files, tmp_path, capsys):
    code, _, stderr = run_cli(edit(files, out=tmp_path / "out", extra=["--set", "editing.inversion_steps=30"]), capsys)
    assert code == 2
    assert "editing: with f = 0.4 the inversion runs 12 of 30 steps but the edit denoises 20 of 50" in stderr
    assert not (tmp_path / "out").exists()


def test_wide_all_white_mask_warns_once_and_edits_everything(files, tmp_path, capsys):
    import numpy as np

    out = tmp_path / "out"
    code, _, stderr = run_cli(edit(files, mask="white-wide.png", out=out, extra=sets(FAST_TOY)), capsys)
    assert code == 0, stderr
    warnings = [line for line in stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "64x32, another aspect ratio than the source (32x32)" in warnings[0]
    edited = np.asarray(Image.open(out / "image.png").convert("RGB"), dtype=np.float64)
    assert edited.shape == (32, 32, 3)
    assert np.abs(edited - 128.0).mean() > 5.0  # nothing kept: the whole image was edited


def test_editing_section_is_strict():
    with pytest.raises(RecipeError, match="blend_indx.*did you mean 'blend_index'"):
        ezigen.load_recipe("toy/ezigen-edit", ["editing.blend_indx=released"])
    with pytest.raises(RecipeError, match="editing.inversion_text"):
        ezigen.load_recipe("toy/ezigen-edit", ["editing.inversion_text=zeros"])
    recipe = ezigen.load_recipe("ezigen-sd21-edit")
    assert recipe.to_data()["editing"] == {
        "inversion_steps": 50, "inversion_text": "released", "inversion_token_id": 7788, "blend_index": "released",
        "text_scale": 2.0, "negative_prompt": None, "short_side": None}
    assert ezigen.load_recipe("ezigen-sdxl-edit").editing.blend_index.value == "corrected"


def test_released_edit_costs():
    """spec §4.4: 1 subject pass + per iteration 20 inversion steps (no CFG) + 20 CFG steps (3 to 9 iterations)."""
    from ezigen.cost import edit_unet_evals

    assert edit_unet_evals(ezigen.load_recipe("ezigen-sd21-edit"), 3) == 1 + 3 * (20 + 40)
    assert edit_unet_evals(ezigen.load_recipe("ezigen-sd21-edit"), 0, subject_images=0) == 0
    assert edit_unet_evals(ezigen.load_recipe("ezigen-sdxl-edit"), 7) == 1 + 7 * (14 + 28)


def dreamedit_folder(root):
    """Two cases in the DreamEditBench-style layout (docs/editing.md), from held-out toy scenes."""
    from ezigen.toy.editing import render_mask
    from ezigen.toy.table import heldout_scenes
    from ezigen.toy.world import render_crop, render_scene

    for i, (scene, inserted) in enumerate(heldout_scenes(2, 1)):
        case = root / f"case-{i}"
        (case / "subject").mkdir(parents=True)
        render_scene(scene).save(case / "source.png")
        render_mask(scene).save(case / "mask.png")
        render_crop(inserted).save(case / "subject" / "0.png")
        (case / "prompt.txt").write_text(scene.caption + "\n")
        if i == 0:
            (case / "subject_prompt.txt").write_text(inserted.class_prompt)
    return root


def test_dreamedit_layout_loader_and_runner(tmp_path, capsys):
    import json

    from ezigen.editing.bench import main, read_cases

    data = dreamedit_folder(tmp_path / "data")
    cases = read_cases(str(data))
    assert [c.name for c in cases] == ["case-0", "case-1"]
    assert cases[0].subject_prompt and cases[1].subject_prompt is None and len(cases[1].subjects) == 1
    out = tmp_path / "out"
    main(["toy/ezigen-edit", "--data", str(data), "--out", str(out), "--border", "2", "--limit", "1",
          *[a for o in FAST_TOY for a in ("--set", o)]])
    summary = json.loads(capsys.readouterr().out)
    assert summary["cases"] == 1 and summary["background_error"] <= 2.0
    lines = (out / "results.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["case"] == "case-0"
    assert (out / "case-0" / "image.png").is_file() and (out / "recipe.yaml").is_file()

    (data / "case-1" / "prompt.txt").unlink()
    with pytest.raises(SystemExit) as exit_info:
        main(["toy/ezigen-edit", "--data", str(data), "--out", str(tmp_path / "out2")])
    assert exit_info.value.code == 2
    assert "case-1" in capsys.readouterr().err and not (tmp_path / "out2").exists()


@pytest.mark.parametrize("recipe", ["toy/ezigen", "ezigen-sd21-base"])
def test_recipe_without_editing_section_exits_2_before_models(files, tmp_path, monkeypatch, recipe):
    """One message naming the recipe and the recipes that edit, exit 2, nothing loaded or written (CliRunner)."""
    import click
    from click.testing import CliRunner

    import ezigen.build
    from ezigen.cli.main import main

    @click.command(context_settings={"ignore_unknown_options": True})
    @click.argument("argv", nargs=-1, type=click.UNPROCESSED)
    def ezigen_cli(argv):  # the console script: main() turns an EzigenError into one line and exit 2
        main(list(argv))

    def no_models(*_args, **_kwargs):
        raise AssertionError("a model was loaded before the recipe was checked")

    monkeypatch.setattr(ezigen.build, "build_system", no_models)
    out = tmp_path / "out"
    args = edit(files, out=out)
    args[1] = recipe
    result = CliRunner().invoke(ezigen_cli, args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines == [f"error: recipe {recipe!r} has no editing: section, so `ezigen edit` cannot run it; recipes "
                     "that edit: ezigen-sd21-edit, ezigen-sdxl-edit, toy/ezigen-edit (or add an editing: section, "
                     "docs/editing.md)"], result.output
    assert not out.exists()
