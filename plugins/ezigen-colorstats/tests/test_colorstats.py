"""The plugin's tests: ezigen's conformance checks on exactly its components, and their formulas."""

import pytest
from PIL import Image

import ezigen
from ezigen.testing import check_component, conformance_cases
from ezigen_colorstats.encoder import ColorStatsConfig, ColorStatsEncoder
from ezigen_colorstats.metric import ColourHistogramConfig, ColourHistogramMetric

CASES = conformance_cases(plugin="colorstats")


def test_exactly_this_plugins_components():
    assert sorted(CASES) == [("metrics", "colour-histogram"), ("subject_encoders", "colorstats")]


@pytest.mark.parametrize("kind, name", CASES)
def test_conformance(kind, name):
    check_component(kind, name)


def test_tokens_are_cell_means_and_stds():
    left_red = Image.new("RGB", (64, 64), (255, 255, 255))
    left_red.paste((255, 0, 0), (0, 0, 32, 64))
    subject = ezigen.SubjectInput.from_images([left_red, left_red], "a thing")
    features = ColorStatsEncoder(ColorStatsConfig(grid=2)).encode(subject)
    assert tuple(features.tokens.shape) == (1, 8, 6)
    red, white = [1.0, -1.0, -1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    assert features.tokens[0, :4].tolist() == [red, white, red, white]  # cells row-major: (0,0) (0,1) (1,0) (1,1)


def test_histogram_intersection_is_one_for_the_same_colours_and_zero_for_disjoint():
    metric = ColourHistogramMetric(ColourHistogramConfig(bins=4))
    red, blue = Image.new("RGB", (8, 8), "red"), Image.new("RGB", (8, 8), "blue")
    assert metric.score([red, blue], references=[red]) == [1.0, 0.0]
