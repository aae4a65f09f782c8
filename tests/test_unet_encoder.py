"""The frozen-UNet subject encoder: shapes per block (tiny and real configs), positions, sharing, caching."""

import json
import os
from types import SimpleNamespace

import pytest
import torch

from ezigen.builtins.encoders.unet import UNetEncoderConfig, UNetSubjectEncoder
from ezigen.unet.capture import FeaturePosition, capture_block_features
from ezigen.unet.layers import transformer_block_names
from ezigen.values import BackboneKind, FeatureKind, SubjectInput

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "ezigen", "assets", "configs")

# spec §2.2, table: (tokens at 512 px, channels) per block in execution order
SD21_SHAPES = [(4096, 320)] * 2 + [(1024, 640)] * 2 + [(256, 1280)] * 2 + [(64, 1280)] + \
              [(256, 1280)] * 3 + [(1024, 640)] * 3 + [(4096, 320)] * 3


def meta_unet(name):
    from diffusers import UNet2DConditionModel

    with open(os.path.join(CONFIGS, name)) as fh:
        config = json.load(fh)
    with torch.device("meta"):
        return UNet2DConditionModel(**config)


def test_real_sd21_base_features_match_the_spec_table():
    unet = meta_unet("sd21-base-unet.json")
    names = transformer_block_names(unet)
    assert len(names) == 16
    assert names[6] == "mid_block.attentions.0.transformer_blocks.0"  # execution order: down, mid, up
    latents = torch.empty(1, 4, 64, 64, device="meta")
    text = torch.empty(1, 77, 1024, device="meta")
    with capture_block_features(unet, names, FeaturePosition.BEFORE_SA) as captured:
        unet(latents, torch.tensor([1], device="meta"), encoder_hidden_states=text)
    assert [tuple(captured[n].shape[1:]) for n in names] == SD21_SHAPES


def test_real_sdxl_base_has_70_feature_layers():
    unet = meta_unet("sdxl-base-unet.json")
    names = transformer_block_names(unet)
    assert len(names) == 70
    latents = torch.empty(1, 4, 128, 128, device="meta")
    added = {"text_embeds": torch.empty(1, 1280, device="meta"), "time_ids": torch.empty(1, 6, device="meta")}
    with capture_block_features(unet, names, FeaturePosition.BEFORE_SA) as captured:
        unet(latents, torch.tensor([1], device="meta"), encoder_hidden_states=torch.empty(1, 77, 2048, device="meta"),
             added_cond_kwargs=added)
    shapes = [tuple(captured[n].shape[1:]) for n in names]
    # 2x2 blocks at 64x64/640, 2x10 at 32x32/1280, 10 in the mid block, 3x10 up at 32x32, 3x2 up at 64x64
    assert shapes == [(4096, 640)] * 4 + [(1024, 1280)] * 20 + [(1024, 1280)] * 10 + [(1024, 1280)] * 30 + \
        [(4096, 640)] * 6


def test_adapter_parameter_count_matches_the_spec_arithmetic():
    from ezigen.builtins.fusions.adapter_attention import AdapterAttentionConfig
    from ezigen.builtins.fusions.adapter_attention.model import AdapterAttentionModel

    unet = meta_unet("sd21-base-unet.json")
    with torch.device("meta"):
        fusion = AdapterAttentionModel(AdapterAttentionConfig(), SimpleNamespace(unet=unet, kind=BackboneKind.SD))
    assert sum(p.numel() for p in fusion.parameters()) == 49_599_040 + 16


def test_tiny_features_per_block(ezigen_backbone_sd21, subject_image):
    backbone = ezigen_backbone_sd21
    encoder = UNetSubjectEncoder.from_config(UNetEncoderConfig(), backbone)
    features = encoder.encode(SubjectInput.from_images([subject_image], "a red disc"), backbone)
    assert features.kind is FeatureKind.SPATIAL
    names = transformer_block_names(backbone.unet)
    assert list(features.layers) == names and len(names) == 11
    sides = {"down_blocks.0": 64, "down_blocks.1": 16, "mid_block": 16, "up_blocks.0": 16, "up_blocks.1": 64}
    for name, tensor in features.layers.items():
        channels = backbone.unet.get_submodule(name).norm1.normalized_shape[0]
        assert tensor.shape == (1, sides[".".join(name.split(".")[:2]) if "mid" not in name else "mid_block"], channels)


def test_several_subject_images_concatenate_along_tokens(ezigen_backbone_sd21, subject_image):
    backbone = ezigen_backbone_sd21
    encoder = UNetSubjectEncoder.from_config(UNetEncoderConfig(), backbone)
    one = encoder.encode(SubjectInput.from_images([subject_image], "a disc"), backbone)
    three = encoder.encode(SubjectInput.from_images([subject_image] * 3, "a disc"), backbone)
    for name, tensor in one.layers.items():
        assert three.layers[name].shape == (1, 3 * tensor.shape[1], tensor.shape[2])


def test_before_sa_is_the_norm1_output_the_self_attention_reads(ezigen_backbone_sd21, subject_image):
    backbone = ezigen_backbone_sd21
    seen = {}
    names = transformer_block_names(backbone.unet)

    def recorder(name):
        def hook(module, args, kwargs):
            seen[name] = args[0] if args else kwargs["hidden_states"]
        return hook

    handles = [backbone.unet.get_submodule(f"{n}.attn1").register_forward_pre_hook(recorder(n), with_kwargs=True)
               for n in names]
    try:
        features = UNetSubjectEncoder.from_config(UNetEncoderConfig(), backbone).encode(
            SubjectInput.from_images([subject_image], "a disc"), backbone)
    finally:
        for handle in handles:
            handle.remove()
    for name in names:
        assert torch.equal(features.layers[name], seen[name])


@pytest.mark.parametrize("position", list(FeaturePosition))
def test_every_position_gives_block_shaped_features(ezigen_backbone_sd21, subject_image, position):
    backbone = ezigen_backbone_sd21
    encoder = UNetSubjectEncoder.from_config(UNetEncoderConfig(position=position), backbone)
    features = encoder.encode(SubjectInput.from_images([subject_image], "a disc"), backbone)
    base = UNetSubjectEncoder.from_config(UNetEncoderConfig(), backbone).encode(
        SubjectInput.from_images([subject_image], "a disc"), backbone)
    for name in features.layers:
        assert features.layers[name].shape == base.layers[name].shape
        if position is not FeaturePosition.BEFORE_SA:
            assert not torch.equal(features.layers[name], base.layers[name])


def test_shared_weights_equal_a_separate_frozen_copy(ezigen_backbone_sd21, subject_image):
    backbone = ezigen_backbone_sd21
    subject = SubjectInput.from_images([subject_image], "a disc")
    shared = UNetSubjectEncoder.from_config(UNetEncoderConfig(share_backbone_weights=True), backbone)
    separate = UNetSubjectEncoder.from_config(UNetEncoderConfig(share_backbone_weights=False), backbone)
    assert shared._own_unet is None  # no second copy in memory
    assert separate._own_unet is not backbone.unet
    a, b = shared.encode(subject, backbone), separate.encode(subject, backbone)
    for name in a.layers:
        assert torch.equal(a.layers[name], b.layers[name])


def test_encoding_is_deterministic_and_cache_keys_follow_the_config(ezigen_backbone_sd21, subject_image):
    backbone = ezigen_backbone_sd21
    subject = SubjectInput.from_images([subject_image], "a disc")
    encoder = UNetSubjectEncoder.from_config(UNetEncoderConfig(), backbone)
    a, b = encoder.encode(subject, backbone), encoder.encode(subject, backbone)
    assert all(torch.equal(a.layers[n], b.layers[n]) for n in a.layers)
    other = UNetSubjectEncoder.from_config(UNetEncoderConfig(timestep=10), backbone)
    assert other.cache_key() != encoder.cache_key()
    assert UNetSubjectEncoder.from_config(UNetEncoderConfig(), backbone).cache_key() == encoder.cache_key()


def test_subject_prompt_conditions_the_features(ezigen_backbone_sd21, subject_image):
    backbone = ezigen_backbone_sd21
    encoder = UNetSubjectEncoder.from_config(UNetEncoderConfig(), backbone)
    a = encoder.encode(SubjectInput.from_images([subject_image], "a dog"), backbone)
    b = encoder.encode(SubjectInput.from_images([subject_image], "a teapot"), backbone)
    first = next(iter(a.layers))
    assert torch.equal(a.layers[first], b.layers[first])  # the first block has not met the text yet
    assert any(not torch.equal(a.layers[n], b.layers[n]) for n in a.layers)
