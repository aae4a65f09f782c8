"""Shared fixtures: tiny models built once per session, offline hub, quiet libraries."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.pop("EZIGEN_DISABLE_PLUGINS", None)
os.environ.pop("EZIGEN_FEATURE_CACHE", None)

import pytest  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), "shared")
# the DreamBench copy beside the repository; EZIGEN_DREAMBENCH points elsewhere (e.g. a folder made with
# `ezigen data dreambench --from <google/dreambooth's dataset/> --out DIR`)
DREAMBENCH = os.environ.get("EZIGEN_DREAMBENCH") or os.path.join(SHARED, "data", "dreambench")

needs_dreambench = pytest.mark.skipif(
    not os.path.isdir(DREAMBENCH),
    reason=f"no DreamBench at {DREAMBENCH} (../shared/data/dreambench, or set EZIGEN_DREAMBENCH to a folder made "
           "by `ezigen data dreambench --from DATASET --out DIR`)")


@pytest.fixture(scope="session")
def tiny_folders(tmp_path_factory):
    """tiny:sd21 and tiny:sdxl saved as diffusers folders (as `ezigen tiny save` writes them)."""
    from ezigen.builtins.backbones.tiny import save_tiny

    root = tmp_path_factory.mktemp("tiny")
    folders = {}
    for kind in ("sd21", "sdxl"):
        folder = root / kind
        save_tiny(f"tiny:{kind}", str(folder))
        folders[kind] = str(folder)
    return folders


@pytest.fixture(scope="session")
def subject_image():
    """A synthetic subject on white: a red disc with blue stripes (64x48, non-square)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (64, 48), "white")
    draw = ImageDraw.Draw(image)
    draw.ellipse((12, 4, 52, 44), fill=(220, 30, 30))
    for x in range(16, 50, 8):
        draw.line((x, 8, x, 40), fill=(20, 40, 200), width=3)
    return image


@pytest.fixture(scope="session")
def subject_path(tmp_path_factory, subject_image):
    path = tmp_path_factory.mktemp("subject") / "subject.png"
    subject_image.save(path)
    return str(path)


@pytest.fixture(autouse=True)
def _no_progress_bars(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def build(recipe: str, *overrides: str, tiny: bool = True):
    """Load and build a recipe (tiny by default)."""
    import ezigen

    return ezigen.build_system(ezigen.load_recipe(recipe, list(overrides), tiny=tiny))


def run_cli(args, capsys):
    """(exit status, stdout, stderr) of one in-process ``ezigen`` CLI call."""
    from ezigen.cli.main import main

    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory):
    """A synthetic DreamBench folder (tests.test_evaluation_support.make_dreambench), one per test module."""
    from tests.test_evaluation_support import make_dreambench

    return make_dreambench(tmp_path_factory.mktemp("bench") / "dreambench")


@pytest.fixture
def single_torch_thread():
    """One torch thread for the test (evaluation runs compare scores across processes bit for bit)."""
    from tests.test_evaluation_support import one_torch_thread

    with one_torch_thread():
        yield
