"""interfaces.py is the one source of truth: every builtin satisfies its kind's protocols, and the
library really has the defaults the tables promise for optional members."""

from __future__ import annotations

import pytest

from ezigen.interfaces import CONTRACTS, missing_members
from ezigen.testing import conformance_cases

BUILTINS = conformance_cases(plugin="ezigen")


@pytest.mark.parametrize("kind, name", BUILTINS)
def test_every_builtin_class_satisfies_its_registered_protocol(kind, name):
    from ezigen.plugins import components

    cls = components().registry(kind).get(name)
    assert isinstance(cls, CONTRACTS[kind].registered)
    assert missing_members(kind, cls) == []


def test_every_builtin_built_object_satisfies_its_protocol(ezigen_backbone_sd21):
    """Built on tiny models, as a recipe builds them (conformance repeats this for each check)."""
    from ezigen.interfaces import Attachment, Backbone, Fusion, GuidanceSchedule, Metric, StopCriterion, \
        SubjectEncoder, TokenSubjectEncoder
    from ezigen.testing.subject_path import default_config, reference_encoder, shipped_components
    from ezigen.values import FeatureKind

    comps = shipped_components()
    backbone = ezigen_backbone_sd21
    assert isinstance(backbone, Backbone)
    for kind in FeatureKind:
        encoder = reference_encoder(kind, backbone)
        assert isinstance(encoder, TokenSubjectEncoder if kind is FeatureKind.TOKENS else SubjectEncoder)
    for entry in comps.registry("fusions").entries():
        config = default_config(entry.value)
        kind = sorted(entry.value.input_kinds(config), key=lambda k: k.value)[0]
        fusion = entry.value.from_config(config, backbone, encoder=reference_encoder(kind, backbone))
        assert isinstance(fusion, Fusion), entry.name
        attachment = fusion.attach(backbone.unet)
        try:
            assert isinstance(attachment, Attachment), entry.name
        finally:
            attachment.detach()
    for kind, protocol in (("guidance_schedules", GuidanceSchedule), ("stop_criteria", StopCriterion),
                           ("metrics", Metric)):
        for entry in comps.registry(kind).entries():
            config = default_config(entry.value)
            from ezigen.evaluation.metric_set import tiny_config

            assert isinstance(entry.value.from_config(tiny_config(config)), protocol), entry.name


def test_a_class_missing_a_required_member_is_named():
    class NoEncode:
        config_class = object

        @classmethod
        def from_config(cls, config, backbone=None):
            return cls()

        @classmethod
        def output_kind(cls, config):
            return None

        def cache_key(self):
            return ""

    assert missing_members("subject_encoders", NoEncode) == ["encode"]


def test_optional_members_fall_back_to_the_documented_defaults():
    from ezigen import defaults

    bare = object()
    assert defaults.text_scale(bare) == 7.5 and defaults.negative_prompt(bare) is None
    assert defaults.subject_guidance(bare) is None and defaults.appearance_fraction(bare) == 0.4
    assert defaults.fusion_scale(bare) == 1.0 and defaults.fusion_weights(bare) is None
    assert defaults.prepare_step(bare, 500, 2) == 0 and defaults.needs_images(bare) is True
    assert defaults.uses_references(bare) is False and defaults.describe(bare) == {}
    assert defaults.move(bare, "cpu") is bare
