"""ezigen-myplugin: the plugin template. Each hook registers one component; see docs/plugins.md."""

from __future__ import annotations

import os

import ezigen
from ezigen_myplugin.brightness_metric import BrightnessMetric
from ezigen_myplugin.grid_encoder import GridEncoder
from ezigen_myplugin.late_schedule import LateSchedule

__version__ = "0.1.0"


@ezigen.hookimpl
def ezigen_register_subject_encoders(register):
    register("myplugin-grid", GridEncoder)


@ezigen.hookimpl
def ezigen_register_guidance_schedules(register):
    register("myplugin-late", LateSchedule)


@ezigen.hookimpl
def ezigen_register_metrics(register):
    register("myplugin-brightness", BrightnessMetric)


@ezigen.hookimpl
def ezigen_register_recipe_dirs(register):
    register(os.path.join(os.path.dirname(__file__), "recipes"))
