"""``reference-attention`` as the diffusers community ``stable_diffusion_reference`` pipeline defines it
(issue 18, item 10): per-step reference noise, the generation prompt with the reference duplicated for
CFG, block-level AdaIN with depth weights and eps 1e-6; each checked against a hand computation."""

import json
import os

import pytest
import torch
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image

from ezigen.conditioning import PromptEmbeds
from ezigen.builtins.encoders.unet import EncodingMode, UNetEncoderConfig, UNetSubjectEncoder
from ezigen.builtins.fusions.reference_attention.adain import adain_sites, block_depth_weights
from ezigen.builtins.fusions.reference_attention import ReferenceAttention, ReferenceAttentionConfig
from ezigen.builtins.fusions.reference_attention.model import attention_layers
from ezigen.unet.capture import FeaturePosition, capture_block_features
from ezigen.unet.layers import transformer_block_names
from ezigen.values import SubjectInput

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "ezigen", "assets", "configs")
T = 501


def sd21_meta_unet():
    from diffusers import UNet2DConditionModel

    with open(os.path.join(CONFIGS, "sd21-base-unet.json")) as fh:
        config = json.load(fh)
    with torch.device("meta"):
        return UNet2DConditionModel(**config)


def test_depth_weights_and_adain_sites_follow_the_community_table():
    unet = sd21_meta_unet()  # 4 down blocks (3 cross-attention, 1 plain), mid, 4 up blocks (1 plain, 3 cross)
    assert block_depth_weights(unet) == {"mid_block": 0.0, "down_blocks.0": 2.0, "down_blocks.1": 1.5,
                                         "down_blocks.2": 1.0, "down_blocks.3": 0.5, "up_blocks.0": 0.0,
                                         "up_blocks.1": 0.5, "up_blocks.2": 1.0, "up_blocks.3": 1.5}
    from ezigen.builtins.fusions.reference_attention.adain import AdainPlacement

    # gn_auto_machine_weight 1.0 (default): blocks with weight <= 1; a unit ends at its transformer, if any
    assert set(adain_sites(unet, AdainPlacement.BLOCKS, 1.0)) == {
        "mid_block", "down_blocks.2.attentions.0", "down_blocks.2.attentions.1", "down_blocks.3.resnets.0",
        "down_blocks.3.resnets.1", "up_blocks.0.resnets.0", "up_blocks.0.resnets.1", "up_blocks.0.resnets.2",
        *(f"up_blocks.{b}.attentions.{i}" for b in (1, 2) for i in range(3))}
    assert len(adain_sites(unet, AdainPlacement.BLOCKS, 2.0)) == 1 + 2 * 4 + 3 * 4  # every unit
    assert len(adain_sites(unet, AdainPlacement.RESNETS, 1.0)) == 8 + 2 + 12  # every ResnetBlock2D


def test_attention_weights_sort_widest_first_in_module_order():
    unet = sd21_meta_unet()
    layers = transformer_block_names(unet)
    assert attention_layers(unet, layers, 1.0) == frozenset(layers)
    # 16 blocks, weight i / 16 < 0.5 for i < 8: the six 1280-wide blocks, then the first two 640-wide ones
    # in depth-first module order (down_blocks.1 before up_blocks.2)
    block = "transformer_blocks.0"
    assert attention_layers(unet, layers, 0.5) == frozenset(
        [f"down_blocks.2.attentions.{i}.{block}" for i in range(2)] +
        [f"up_blocks.1.attentions.{i}.{block}" for i in range(3)] +
        [f"mid_block.attentions.0.{block}"] + [f"down_blocks.1.attentions.{i}.{block}" for i in range(2)])


@pytest.fixture()
def setup(ezigen_backbone_sd21):
    backbone = ezigen_backbone_sd21
    encoder = UNetSubjectEncoder(UNetEncoderConfig(mode=EncodingMode.PER_STEP))
    features = encoder.encode(SubjectInput.from_images([Image.new("RGB", (16, 16), (200, 30, 30))], "a disc"), backbone)
    conditioning = backbone.encode_prompt(["a disc on a table"], ["blurry"], cfg=True)
    embeds = PromptEmbeds.cat([conditioning.uncond, conditioning.cond])  # (2, L, D): uncond row first
    return backbone, features, embeds


def attach(backbone, features, **config):
    """The fusion from recipe-style values (strings for enums, as a recipe gives them), attached."""
    from ezigen.config import structure

    built, problems = structure(ReferenceAttentionConfig, config, "fusion")
    assert not problems, problems
    fusion = ReferenceAttention.from_config(built, backbone)
    attachment = fusion.attach(backbone.unet)
    attachment.set_subject(features, uncond=torch.tensor([True, False]))
    return fusion, attachment


def by_hand_write_bank(backbone, noisy, embeds):
    """The plain UNet's LN1 outputs on the noisy reference rows: what the write pass must record."""
    names = transformer_block_names(backbone.unet)
    with capture_block_features(backbone.unet, names, FeaturePosition.BEFORE_SA) as captured, torch.no_grad():
        backbone.predict_noise(noisy, torch.tensor([T] * noisy.shape[0]), embeds)
    return {name: captured[name] for name in names}


def test_write_pass_draws_fresh_noise_from_the_generator_and_uses_the_generation_prompt(setup):
    backbone, features, embeds = setup
    latents = features.reference["latents"]  # (1, 4, h, w)
    fusion, attachment = attach(backbone, features)
    generator = torch.Generator().manual_seed(5)
    try:
        assert attachment.prepare_step(torch.tensor(T), 2, embeds=embeds, generator=generator, branches=2) == 2
        first = dict(fusion.bank)
        attachment.prepare_step(torch.tensor(T), 2, embeds=embeds, generator=generator, branches=2)
        second = dict(fusion.bank)
    finally:
        attachment.detach()
    # by hand: eps ~ the generation's generator at this step, x = add_noise(z_ref, eps, t), duplicated for CFG,
    # run with the generating batch's [negative; prompt] embeddings
    mirror = torch.Generator().manual_seed(5)
    noise = randn_tensor(latents.shape, generator=mirror)
    noisy = backbone.training_scheduler.add_noise(latents, noise, torch.tensor([T]))
    expected = by_hand_write_bank(backbone, torch.cat([noisy] * 2), embeds)
    assert all(torch.equal(first[n], expected[n]) for n in expected)
    last = transformer_block_names(backbone.unet)[-1]  # after cross-attention layers: the text matters
    assert not torch.equal(first[last][0], first[last][1])  # the uncond copy saw the negative prompt
    assert not torch.equal(first[last], second[last])  # a fresh eps at the next step
    randn_tensor(latents.shape, generator=mirror)
    assert torch.equal(torch.randn(3, generator=generator), torch.randn(3, generator=mirror))  # one draw per step


def test_fixed_noise_and_subject_prompt_are_ezigens_variant(setup):
    backbone, features, embeds = setup
    latents = features.reference["latents"]
    fusion, attachment = attach(backbone, features, reference_noise="fixed", reference_prompt="subject")
    try:
        assert attachment.prepare_step(torch.tensor(T), 2, embeds=embeds, generator=None, branches=2) == 1
        first = dict(fusion.bank)
        attachment.prepare_step(torch.tensor(T), 2, embeds=embeds, generator=None, branches=2)
        second = dict(fusion.bank)
    finally:
        attachment.detach()
    noise = torch.randn(latents.shape, generator=torch.Generator("cpu").manual_seed(0))  # noise_seed 0
    noisy = backbone.training_scheduler.add_noise(latents, noise, torch.tensor([T]))
    subject = PromptEmbeds(features.reference["embeds"])
    expected = by_hand_write_bank(backbone, noisy, subject)
    assert all(torch.equal(first[n], expected[n]) and torch.equal(second[n], first[n]) for n in expected)


def community_adain(x, ref):
    """The community formula, by hand: std = sqrt(max(var, 1e-6)), population statistics over (H, W)."""
    var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
    ref_var, ref_mean = torch.var_mean(ref, dim=(2, 3), keepdim=True, correction=0)
    return (x - mean) / torch.clamp(var, min=1e-6).sqrt() * torch.clamp(ref_var, min=1e-6).sqrt() + ref_mean


@pytest.mark.parametrize("placement, site, skipped", [
    ("blocks", "mid_block", "down_blocks.0.attentions.1"),  # tiny UNet: down_blocks.0 has weight 2 > 1
    ("blocks", "up_blocks.1.attentions.2", "down_blocks.0.resnets.0"),
    ("resnets", "down_blocks.0.resnets.1", "down_blocks.0.attentions.1"),
])
def test_adain_matches_the_formula_at_its_sites_and_nowhere_else(setup, placement, site, skipped):
    backbone, features, embeds = setup
    unet = backbone.unet
    seen = {"pre": {}, "post": {}}

    def recorder(key, name):
        def hook(_module, _args, output):
            seen[key].setdefault(name, []).append((output if torch.is_tensor(output) else output[0]).clone())
        return hook

    handles = [unet.get_submodule(n).register_forward_hook(recorder("pre", n)) for n in (site, skipped)]
    fusion, attachment = attach(backbone, features, attention=False, adain=True, adain_placement=placement,
                                style_fidelity=0.5)
    handles += [unet.get_submodule(n).register_forward_hook(recorder("post", n)) for n in (site, skipped)]
    try:
        attachment.prepare_step(torch.tensor(T), 2, embeds=embeds, generator=torch.Generator().manual_seed(1),
                                branches=2)
        x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            backbone.predict_noise(x, torch.tensor([T, T]), embeds)
    finally:
        for handle in handles:
            handle.remove()
        attachment.detach()
    reference, before = seen["pre"][site]  # write pass (the reference rows), then the generating pass
    after = seen["post"][site][1]
    if placement == "blocks":
        matched = community_adain(before, reference)
    else:
        var, mean = torch.var_mean(before, dim=(2, 3), keepdim=True, correction=0)
        ref_var, ref_mean = torch.var_mean(reference, dim=(2, 3), keepdim=True, correction=0)
        matched = (before - mean) / (var + 1e-5).sqrt() * (ref_var + 1e-5).sqrt() + ref_mean
    # cond row: AdaIN'd; uncond row: style_fidelity * plain + (1 - style_fidelity) * AdaIN'd
    torch.testing.assert_close(after[1], matched[1], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(after[0], 0.5 * before[0] + 0.5 * matched[0], rtol=1e-5, atol=1e-5)
    assert torch.equal(seen["post"][skipped][1], seen["pre"][skipped][1])  # not a site: untouched


def test_adain_eps_by_hand_on_a_nearly_flat_map():
    from ezigen.builtins.fusions.reference_attention.adain import AdainPlacement, adain

    x = torch.tensor([0.0, 2e-4, 0.0, 2e-4]).reshape(1, 1, 2, 2)  # mean 1e-4, var 1e-8
    ref_mean, ref_var = torch.full((1, 1, 1, 1), 3.0), torch.full((1, 1, 1, 1), 4.0)
    # community: std = sqrt(max(var, 1e-6)) -> (x - 1e-4) / 1e-3 * 2 + 3 = 3 -/+ 0.2
    community = adain(x, ref_mean, ref_var, AdainPlacement.BLOCKS).flatten().tolist()
    assert community == pytest.approx([2.8, 3.2, 2.8, 3.2], abs=1e-5)
    # resnets: std = sqrt(var + 1e-5) -> (x - 1e-4) / sqrt(1.001e-5) * sqrt(4.00001) + 3
    step = 1e-4 / (1.001e-5) ** 0.5 * (4.00001) ** 0.5
    resnets = adain(x, ref_mean, ref_var, AdainPlacement.RESNETS).flatten().tolist()
    assert resnets == pytest.approx([3 - step, 3 + step, 3 - step, 3 + step], abs=1e-5)
