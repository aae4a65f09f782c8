"""Half precision where users run it (issue 20 item 5): ``generate --dtype`` is ``--set backbone.dtype``."""

import yaml

from tests.conftest import run_cli


def test_generate_dtype_shortcut_sets_the_backbone_dtype(tmp_path, capsys):
    out = tmp_path / "bf16"
    code, stdout, err = run_cli(["generate", "text-only-sd21-base", "--tiny", "--dtype", "bfloat16", "--steps", "2",
                                 "--prompt", "a cat", "--out", str(out), "--quiet"], capsys)
    assert code == 0, err
    assert yaml.safe_load((out / "recipe.yaml").read_text())["backbone"]["dtype"] == "bfloat16"
    assert (out / "image.png").is_file()


def test_generate_dtype_refuses_an_unknown_dtype_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "nope"
    code, _, err = run_cli(["generate", "text-only-sd21-base", "--tiny", "--dtype", "float8", "--prompt", "a cat",
                            "--out", str(out)], capsys)
    assert code == 2
    assert "--dtype" in err and "float8" in err and "bfloat16" in err
    assert not out.exists()
