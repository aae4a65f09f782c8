"""DreamBench reader and evaluation plan: parsing, prompt kinds, selection, disjoint shards."""

from __future__ import annotations

import os
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ezigen.errors import DataError, EzigenError, UnknownNameError
from ezigen.evaluation.dreambench import PromptKind, parse_prompt_list, read_dreambench
from ezigen.evaluation.plan import Selection, plan_jobs, recipe_folder, shard
from tests.conftest import DREAMBENCH, needs_dreambench
from tests.test_evaluation_support import make_dreambench, prompts_file_text


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory):
    return make_dreambench(tmp_path_factory.mktemp("bench") / "dreambench")


@needs_dreambench
def test_reads_the_shared_dreambench_as_published():
    bench = read_dreambench(DREAMBENCH)
    assert len(bench.subjects) == 30
    assert sum(len(s.images) for s in bench.subjects) == 158  # BENCHMARKS §0
    live = sorted(s.name for s in bench.subjects if s.live)
    assert live == ["cat", "cat2", "dog", "dog2", "dog3", "dog5", "dog6", "dog7", "dog8"]
    assert len({s.class_name for s in bench.subjects}) == 15
    assert Counter(p.kind for p in bench.object_prompts) == {PromptKind.RECONTEXTUALIZATION: 20, PromptKind.PROPERTY: 5}
    assert Counter(p.kind for p in bench.live_prompts) == {
        PromptKind.RECONTEXTUALIZATION: 10, PromptKind.ACCESSORIZATION: 10, PromptKind.PROPERTY: 5}
    plushie = bench.subject("bear_plushie")
    assert plushie.class_name == "stuffed animal" and plushie.subject_prompt == "a stuffed animal"
    assert [os.path.basename(p) for p in bench.subject("backpack").images] == [f"{i:02d}.jpg" for i in range(6)]
    assert bench.live_prompts[14].text("dog", "sks") == "a sks dog in a chef outfit"
    assert bench.object_prompts[24].text("vase") == "a cube shaped vase"


def test_synthetic_layout_subjects_images_and_kinds(bench_dir):
    bench = read_dreambench(bench_dir)
    assert [(s.name, s.class_name, s.live) for s in bench.subjects] == [
        ("red_disc", "toy", False), ("blue_box", "box", False), ("dog_a", "dog", True)]
    assert [os.path.basename(p) for p in bench.subject("blue_box").images] == ["00.jpg", "01.jpg", "02.jpg", "03.jpg"]
    assert [p.kind.value for p in bench.object_prompts] == ["recontextualization"] * 3 + ["property"]
    assert [p.kind.value for p in bench.live_prompts] == ["recontextualization"] * 2 + ["accessorization", "property"]
    dog = bench.subject("dog_a")
    assert bench.prompts_for(dog) is bench.live_prompts


@pytest.mark.parametrize("token, expected", [("", "a red toy"), ("sks", "a red sks toy")])
def test_prompt_text_drops_an_empty_token_cleanly(bench_dir, token, expected):
    assert read_dreambench(bench_dir).object_prompts[3].text("toy", token) == expected


_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)


@settings(deadline=None)
@given(st.lists(st.tuples(st.lists(_word, max_size=2), st.lists(_word, min_size=1, max_size=4)),
                min_size=1, max_size=6))
def test_prompt_lists_round_trip_through_the_file_format(parts):
    templates = [" ".join(["a", *before, "{0} {1}", *after]) for before, after in parts]
    lines = prompts_file_text(object_templates=templates, live_templates=templates[::-1]).splitlines()
    assert parse_prompt_list(lines, "object prompts", "p.txt") == templates
    assert parse_prompt_list(lines, "live subject prompts", "p.txt") == templates[::-1]


def test_bad_layouts_are_data_errors_naming_the_problem(tmp_path, bench_dir):
    with pytest.raises(DataError, match="no such folder"):
        read_dreambench(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="prompts_and_classes.txt is missing"):
        read_dreambench(str(tmp_path / "empty"))
    broken = make_dreambench(tmp_path / "broken")
    text = open(os.path.join(broken, "prompts_and_classes.txt")).read()
    with open(os.path.join(broken, "prompts_and_classes.txt"), "w") as fh:
        fh.write(text.replace("'a {0} {1} in the snow'.format(unique_token, class_token),", "a snow prompt,", 1))
    with pytest.raises(DataError, match=r"prompts_and_classes.txt:\d+: expected a line like"):
        read_dreambench(broken)
    gone = make_dreambench(tmp_path / "gone")
    for name in os.listdir(os.path.join(gone, "blue_box")):
        os.unlink(os.path.join(gone, "blue_box", name))
    with pytest.raises(DataError, match="has no images"):
        read_dreambench(gone)
    os.rmdir(os.path.join(gone, "blue_box"))
    with pytest.raises(DataError, match="lists subject 'blue_box'"):
        read_dreambench(gone)
    with pytest.raises(UnknownNameError, match="did you mean 'dog_a'"):
        read_dreambench(bench_dir).subject("dog_b")


def test_limit_covers_both_class_types_both_prompt_kinds_and_two_seeds(bench_dir):
    bench = read_dreambench(bench_dir)
    jobs = plan_jobs(bench, ["r1", "r2"], Selection.from_options(limit=2, images_per_prompt=4))
    # red_disc (object): recontextualization p0, property p3; dog_a (live): p0, accessorization p2
    assert [(j.recipe, j.subject.name, j.prompt.index, j.seed) for j in jobs] == [
        (r, s, p, seed) for r in ("r1", "r2") for s, prompts in (("red_disc", (0, 3)), ("dog_a", (0, 2)))
        for p in prompts for seed in (0, 1)]
    kinds = {(j.subject.live, j.prompt.kind.value) for j in jobs}
    assert kinds == {(False, "recontextualization"), (False, "property"), (True, "recontextualization"),
                     (True, "accessorization")}
    assert [j.seed for j in plan_jobs(bench, ["r"], Selection.from_options(limit=1))] == [0]
    three = plan_jobs(bench, ["r"], Selection.from_options(limit=3))
    assert [j.subject.name for j in three][::6] == ["red_disc", "blue_box", "dog_a"]  # 3 prompts x 2 seeds each
    assert {j.prompt.index for j in three if j.subject.name == "dog_a"} == {0, 2, 3}


@needs_dreambench
def test_limit_on_the_shared_dreambench_picks_backpack_and_cat():
    jobs = plan_jobs(read_dreambench(DREAMBENCH), ["r"], Selection.from_options(limit=2))
    assert [(j.subject.name, j.prompt.index, j.prompt.kind.value, j.seed) for j in jobs][::2] == [
        ("backpack", 0, "recontextualization", 0), ("backpack", 20, "property", 0),
        ("cat", 0, "recontextualization", 0), ("cat", 10, "accessorization", 0)]


def test_selection_seeds_prompts_reference_and_token(bench_dir):
    bench = read_dreambench(bench_dir)
    assert Selection.from_options().seeds == (0, 1, 2, 3)  # DreamBench: 4 images per prompt
    selection = Selection.from_options(subjects=["dog_a"], prompts_per_subject=3, seeds=[7, 9], reference_index=2,
                                       unique_token="sks")
    jobs = plan_jobs(bench, ["r"], selection)
    assert [(j.prompt.index, j.seed) for j in jobs] == [(p, s) for p in range(3) for s in (7, 9)]
    assert {os.path.basename(j.reference) for j in jobs} == {"02.jpg"}
    assert jobs[4].generation_prompt == "a sks dog wearing a santa hat"
    assert jobs[4].clip_prompt == "a dog wearing a santa hat"
    assert jobs[4].prompt.kind is PromptKind.ACCESSORIZATION
    assert jobs[5].folder("OUT") == os.path.join("OUT", "images", "r", "dog_a", "p02-s9")
    with pytest.raises(EzigenError, match="does not match the 2 --seeds"):
        Selection.from_options(images_per_prompt=3, seeds=[1, 2])
    with pytest.raises(EzigenError, match="has only 3 images"):
        plan_jobs(bench, ["r"], Selection.from_options(reference_index=3))
    assert recipe_folder("ablations/ezigen-sd21-fixed-3") == "ablations_ezigen-sd21-fixed-3"


@settings(deadline=None)  # reads the folder for every example: slow on a busy machine
@given(world=st.integers(1, 6), limit=st.integers(1, 4), recipes=st.integers(1, 3))
def test_shards_are_disjoint_and_complete(bench_dir, world, limit, recipes):
    bench = read_dreambench(bench_dir)
    jobs = plan_jobs(bench, [f"r{i}" for i in range(recipes)], Selection.from_options(limit=limit))
    slices = [shard(jobs, rank, world) for rank in range(world)]
    keys = [job.key for part in slices for job in part]
    assert len(keys) == len(set(keys)) and sorted(keys) == sorted(j.key for j in jobs)
    assert max(map(len, slices)) - min(map(len, slices)) <= 1
