"""The precomputed subject K/V of the adapter attention (issue 20 item 2): the same noise prediction as the
plain path (K/V of [u ; w S] at every call) within 1e-5, computed once per subject, recomputed when the weights
change, kept when only the scale changes, and out of the way of training gradients."""

import pytest
import torch

from ezigen.builtins.encoders.unet import UNetEncoderConfig, UNetSubjectEncoder
from ezigen.builtins.fusions.adapter_attention import AdapterAttentionConfig
from ezigen.builtins.fusions.adapter_attention.model import AdapterAttentionModel
from ezigen.builtins.fusions.token_adapter_attention import TokenAdapterAttentionConfig
from ezigen.builtins.fusions.token_adapter_attention.model import TokenAdapterAttentionModel
from ezigen.values import FeatureKind, SubjectFeatures, SubjectInput

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def setup(ezigen_backbone_sd21, subject_image):
    backbone = ezigen_backbone_sd21
    features = UNetSubjectEncoder.from_config(UNetEncoderConfig(), backbone).encode(
        SubjectInput.from_images([subject_image], "a disc"), backbone)
    sample = torch.randn(backbone.latent_shape(2), generator=torch.Generator().manual_seed(0))
    text = backbone.encode_prompt(["a photo of a disc", "a disc on grass"], None, cfg=False).cond
    return backbone, features, sample, text


def predict(backbone, fusion, features, sample, text, scale=1.0, active=None, steps=1):
    attachment = fusion.attach(backbone.unet)
    try:
        with torch.no_grad():
            for _ in range(steps):  # the loop calls set_subject before every step
                attachment.set_scale(scale)
                attachment.set_subject(features, active=active)
                out = backbone.predict_noise(sample, torch.tensor(400), text)
    finally:
        attachment.detach()
    return out


def pair(make, **config):
    """The fast (default) and the plain fusion with the same weights."""
    fast = make(True, **config)
    plain = make(False, **config)
    plain.load_state_dict(fast.state_dict())
    return fast, plain


def adapters(backbone):
    def make(precompute, **config):
        return AdapterAttentionModel(AdapterAttentionConfig(precompute_subject_kv=precompute, **config), backbone)

    return make


def perturb(fusion):
    """Weights unlike attn1's, so that a K/V mix-up shows."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in fusion.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))


def test_precomputed_subject_kv_is_the_default():
    assert AdapterAttentionConfig().precompute_subject_kv is True
    assert TokenAdapterAttentionConfig().precompute_subject_kv is True


@pytest.mark.parametrize("config", [{}, {"residual_connection": False, "tanh_gate": True},
                                    {"gated": True, "only_up": True}])
def test_precomputed_subject_kv_gives_the_plain_paths_noise_prediction(setup, config):
    backbone, features, sample, text = setup
    fast, plain = pair(adapters(backbone), **config)
    perturb(fast)
    plain.load_state_dict(fast.state_dict())
    reference = predict(backbone, plain, features, sample, text)
    out = predict(backbone, fast, features, sample, text)
    off = predict(backbone, plain, None, sample, text)
    assert (reference - off).abs().max() > 1e-3  # the subject path does something here
    assert (out - reference).abs().max() <= TOLERANCE
    assert fast.subject_kv.computed == len(fast.layers) and plain.subject_kv.computed == 0


def test_two_subjects_tiled_over_cfg_rows_and_per_row_activity(setup):
    """b = 2 subjects for a batch of 4 (two CFG branches), and one row switched off."""
    backbone, features, sample, text = setup
    two = SubjectFeatures(FeatureKind.SPATIAL, layers={k: torch.cat([v, v.flip(1)]) for k, v in features.layers.items()})
    sample4, text4 = torch.cat([sample, sample.flip(0)]), type(text).cat([text, text])
    fast, plain = pair(adapters(backbone))
    active = torch.tensor([1.0, 0.0, 1.0, 1.0])
    reference = predict(backbone, plain, two, sample4, text4, active=active)
    assert (predict(backbone, fast, two, sample4, text4, active=active) - reference).abs().max() <= TOLERANCE


def test_subject_kv_computed_once_per_subject_and_redone_when_weights_change(setup):
    backbone, features, sample, text = setup
    fast, plain = pair(adapters(backbone))
    blocks = len(fast.layers)
    predict(backbone, fast, features, sample, text, steps=3)
    predict(backbone, fast, features, sample, text, scale=0.5)  # a later call, another scale: still cached
    assert fast.subject_kv.computed == blocks
    # the scale multiplies the adapter output, not K/V: the kept entries give the plain path's answer
    assert (predict(backbone, fast, features, sample, text, scale=0.5)
            - predict(backbone, plain, features, sample, text, scale=0.5)).abs().max() <= TOLERANCE
    name = fast.layers[2]
    with torch.no_grad():  # in place, as an optimizer step or load_state_dict would
        fast.get_submodule(name).adapter.to_k.weight.mul_(1.5)
        plain.get_submodule(name).adapter.to_k.weight.mul_(1.5)
    assert (predict(backbone, fast, features, sample, text)
            - predict(backbone, plain, features, sample, text)).abs().max() <= TOLERANCE
    assert fast.subject_kv.computed == blocks + 1  # only block 2's to_k changed
    with torch.no_grad():
        fast.learnable_weights[1] = 0.3  # w is in every block's K/V stamp
        plain.learnable_weights[1] = 0.3
    assert (predict(backbone, fast, features, sample, text)
            - predict(backbone, plain, features, sample, text)).abs().max() <= TOLERANCE
    assert fast.subject_kv.computed == 2 * blocks + 1
    other = SubjectFeatures(FeatureKind.SPATIAL, layers={k: v.flip(1) for k, v in features.layers.items()})
    assert (predict(backbone, fast, other, sample, text)
            - predict(backbone, plain, other, sample, text)).abs().max() <= TOLERANCE  # a new subject: recomputed


def test_training_gradients_do_not_go_through_a_cached_kv(setup):
    """Under grad the subject K/V are computed in the graph at every forward: the same gradients as the plain path,
    and a second backward after an optimizer step works."""
    backbone, features, sample, text = setup
    fast, plain = pair(adapters(backbone))
    grads = {}
    for label, fusion in (("fast", fast), ("plain", plain)):
        attachment = fusion.attach(backbone.unet)
        try:
            for _ in range(2):
                fusion.zero_grad()
                attachment.set_subject(features)
                backbone.predict_noise(sample, torch.tensor(400), text).square().mean().backward()
            grads[label] = [p.grad.clone() for p in (fusion.learnable_weights,
                                                     fusion.get_submodule(fusion.layers[0]).adapter.to_v.weight)]
        finally:
            attachment.detach()
    for a, b in zip(grads["fast"], grads["plain"]):
        assert a.abs().max() > 0 and torch.allclose(a, b, rtol=1e-4, atol=1e-7)
    assert fast.subject_kv.computed == 0


def test_token_adapter_precomputes_its_projection_too(setup):
    backbone, _, sample, text = setup

    def make(precompute):
        config = TokenAdapterAttentionConfig(token_dim=32, precompute_subject_kv=precompute)
        return TokenAdapterAttentionModel(config, backbone)

    fast, plain = pair(lambda precompute: make(precompute))
    tokens = SubjectFeatures(FeatureKind.TOKENS, tokens=torch.randn(1, 6, 32, generator=torch.Generator().manual_seed(2)))
    reference = predict(backbone, plain, tokens, sample, text)
    assert (predict(backbone, fast, tokens, sample, text, steps=2) - reference).abs().max() <= TOLERANCE
    computed = fast.subject_kv.computed
    with torch.no_grad():
        fast.token_projections[0].weight.mul_(2.0)
        plain.token_projections[0].weight.mul_(2.0)
    assert (predict(backbone, fast, tokens, sample, text) - predict(backbone, plain, tokens, sample, text)
            ).abs().max() <= TOLERANCE
    assert fast.subject_kv.computed == computed + 1  # only block 0 depends on projection 0


def test_precomputed_subject_kv_under_bfloat16_autocast_matches_the_plain_path(setup):
    """The release's numerics (autocast over float32 weights), on CPU in bfloat16: K/V made on set_subject inside
    the autocast region, in the dtype the plain path uses."""
    backbone, features, sample, text = setup
    fast, plain = pair(adapters(backbone))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        reference = predict(backbone, plain, features, sample, text).float()
        out = predict(backbone, fast, features, sample, text).float()
        off = predict(backbone, plain, None, sample, text).float()
    assert (reference - off).abs().max() > 1e-2
    assert (out - reference).abs().max() <= 0.02 * reference.abs().max()  # bfloat16: ~3 significant digits
