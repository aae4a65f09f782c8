"""ezigen-colorstats: a colour-statistics subject encoder and a colour-histogram metric."""

from __future__ import annotations

import os

import ezigen
from ezigen_colorstats.encoder import ColorStatsEncoder
from ezigen_colorstats.metric import ColourHistogramMetric

__version__ = "0.1.0"


@ezigen.hookimpl
def ezigen_register_subject_encoders(register):
    register("colorstats", ColorStatsEncoder)


@ezigen.hookimpl
def ezigen_register_metrics(register):
    register("colour-histogram", ColourHistogramMetric)


@ezigen.hookimpl
def ezigen_register_recipe_dirs(register):
    register(os.path.join(os.path.dirname(__file__), "recipes"))
