"""The FLOP counts behind the benchmarks' flop_ratio (issue 20 item 1): the counter sees attention, the meta-device
count equals the CPU one, and a subject-on step adds exactly the adapter's arithmetic (no subject K/V per step)."""

import copy
from types import SimpleNamespace

import pytest
import torch

from benchmarks.flops import attention_flops, count_flops
from benchmarks.real_cpu import single_pass_target
from ezigen.builtins.fusions.adapter_attention import AdapterAttentionConfig
from ezigen.builtins.fusions.adapter_attention.model import AdapterAttentionModel
from ezigen.unet.layers import block_geometry, token_counts
from ezigen.values import BackboneKind, FeatureKind, SubjectFeatures


def test_counter_sees_attention_and_matches_4_b_h_lq_lk_d():
    q, k, v = torch.randn(2, 5, 64, 16), torch.randn(2, 5, 96, 16), torch.randn(2, 5, 96, 16)
    counted = count_flops(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v))
    assert counted > 0
    assert counted == attention_flops(2, 5, 64, 96, 16) == 4 * 2 * 5 * 64 * 96 * 16


@pytest.fixture(scope="module")
def attached(ezigen_backbone_sd21):
    """A private copy of the tiny UNet (moved to meta below) with the adapters attached, and its inputs."""
    backbone = ezigen_backbone_sd21
    unet = copy.deepcopy(backbone.unet)
    fusion = AdapterAttentionModel(AdapterAttentionConfig(), SimpleNamespace(unet=unet, kind=BackboneKind.SD))
    counts = token_counts(unet, 64)
    geometry = {name: block_geometry(unet, name) for name in fusion.layers}
    layers = {name: torch.randn(1, counts[name], geometry[name]["channels"]) for name in fusion.layers}
    text = backbone.encode_prompt(["", "a disc"], None, cfg=False).cond
    return unet, fusion, fusion.attach(unet), SubjectFeatures(FeatureKind.SPATIAL, layers=layers), counts, geometry, text


def step_flops(unet, attachment, features, text, device):
    latents = torch.zeros(2, 4, 8, 8, device=device)
    embeds = text.embeds.to(device) if device != "meta" else torch.empty(text.embeds.shape, device="meta")
    with torch.no_grad():  # as the sampling loop calls it: the subject K/V are prepared here, outside the count
        attachment.set_subject(features)
    return count_flops(lambda: unet(latents, torch.tensor(400), encoder_hidden_states=embeds, return_dict=False))


def test_subject_on_step_adds_exactly_the_adapter_arithmetic_and_meta_counts_the_same(attached):
    unet, fusion, attachment, features, counts, geometry, text = attached
    off = step_flops(unet, attachment, None, text, "cpu")
    fusion.subject_kv.clear()
    kv = count_flops(lambda: attachment.set_subject(features))
    on = step_flops(unet, attachment, features, text, "cpu")
    batch, expected_step, expected_kv = 2, 0, 0
    for name in fusion.layers:
        hw, c, g = counts[name], geometry[name]["channels"], geometry[name]
        inner = g["heads"] * g["head_dim"]
        # to_q, to_k(u), to_v(u), to_out over the B x HW rows + attention of HW queries over HW + HW keys
        expected_step += 4 * 2 * batch * hw * c * inner + attention_flops(batch, g["heads"], hw, 2 * hw, g["head_dim"])
        expected_kv += 2 * 2 * hw * c * inner  # W_k (w S), W_v (w S) once, for the one subject row
    assert on - off == expected_step
    assert kv == expected_kv
    meta_features = SubjectFeatures(FeatureKind.SPATIAL, layers={k: torch.empty(v.shape, device="meta")
                                                                 for k, v in features.layers.items()})
    unet.to("meta")
    assert step_flops(unet, attachment, None, text, "meta") == off
    assert step_flops(unet, attachment, meta_features, text, "meta") == on


def test_single_pass_target_is_measured_against_its_flop_limit():
    row = {"case": "c", "steps": 50, "subject_on_steps": 20, "subject_step_ratio": 1.6, "flop_ratio": 1.4}
    target = single_pass_target([row], "c")
    assert target["measured_x_plain"] == pytest.approx((30 + 20 * 1.6) / 50, abs=1e-3)
    assert target["flop_limit_x_plain"] == pytest.approx((30 + 20 * 1.4) / 50, abs=1e-3)
    assert target["met"] is True  # 1.24 <= 1.1 x 1.16
    assert single_pass_target([{**row, "subject_step_ratio": 2.1}], "c")["met"] is False  # 1.44 > 1.276
