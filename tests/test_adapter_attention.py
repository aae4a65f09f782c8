"""EZIGen's adapter attention: exact formula, bit-identical when off, exact detach, released key layout."""

import os

import pytest
import torch

from ezigen.builtins.encoders.unet import UNetEncoderConfig, UNetSubjectEncoder
from ezigen.builtins.fusions.adapter_attention import AdapterAttentionConfig
from ezigen.builtins.fusions.adapter_attention.model import AdapterAttentionModel
from ezigen.errors import WeightsError
from ezigen.unet.layers import transformer_block_names
from ezigen.values import SubjectInput


@pytest.fixture(scope="module")
def setup(ezigen_backbone_sd21, subject_image):
    backbone = ezigen_backbone_sd21
    features = UNetSubjectEncoder.from_config(UNetEncoderConfig(), backbone).encode(
        SubjectInput.from_images([subject_image], "a disc"), backbone)
    generator = torch.Generator().manual_seed(0)
    sample = torch.randn(backbone.latent_shape(2), generator=generator)
    text = backbone.encode_prompt(["a photo of a disc", "a disc on grass"], None, cfg=False).cond
    return backbone, features, sample, text


def predict(backbone, sample, text, t=400):
    with torch.no_grad():
        return backbone.predict_noise(sample, torch.tensor(t), text)


def test_subject_off_is_bit_identical_and_detach_restores_everything(setup):
    backbone, features, sample, text = setup
    unet = backbone.unet
    keys, processors = list(unet.state_dict()), dict(unet.attn_processors)
    plain = predict(backbone, sample, text)
    fusion = AdapterAttentionModel(AdapterAttentionConfig(), backbone)
    attachment = fusion.attach(unet)
    try:
        attachment.set_subject(None)
        assert torch.equal(predict(backbone, sample, text), plain)
        attachment.set_subject(features)
        assert not torch.equal(predict(backbone, sample, text), plain)
        attachment.set_subject(features)
        attachment.set_scale(0.0)
        assert torch.equal(predict(backbone, sample, text), plain)  # scale 0: exactly off
    finally:
        attachment.detach()
    assert list(unet.state_dict()) == keys
    assert dict(unet.attn_processors) == processors
    assert torch.equal(predict(backbone, sample, text), plain)


def test_attached_unet_has_the_released_state_dict_layout(setup):
    backbone = setup[0]
    unet = backbone.unet
    plain_keys = set(unet.state_dict())
    fusion = AdapterAttentionModel(AdapterAttentionConfig(), backbone)
    attachment = fusion.attach(unet)
    try:
        added = set(unet.state_dict()) - plain_keys
    finally:
        attachment.detach()
    names = transformer_block_names(unet)
    expected = {"learnable_weights"} | {
        f"{n}.{suffix}" for n in names for suffix in (
            "adapter.to_q.weight", "adapter.to_k.weight", "adapter.to_v.weight", "adapter.to_out.0.weight",
            "adapter.to_out.0.bias", "adapter_norm.weight", "adapter_norm.bias")
    }
    assert added == expected and len(added) == 7 * len(names) + 1
    assert set(fusion.state_dict()) == expected


def test_adapter_starts_as_a_copy_of_attn1_and_norm1(setup):
    backbone = setup[0]
    fusion = AdapterAttentionModel(AdapterAttentionConfig(), backbone)
    for name in fusion.layers:
        block, holder = backbone.unet.get_submodule(name), fusion.get_submodule(name)
        for key, value in block.attn1.state_dict().items():
            assert torch.equal(holder.adapter.state_dict()[key], value)
        assert torch.equal(holder.adapter_norm.weight, block.norm1.weight)
        assert holder.adapter is not block.attn1
    assert torch.equal(fusion.learnable_weights, torch.ones(len(fusion.layers)))


@pytest.mark.parametrize("residual", [True, False])
def test_block_output_follows_the_spec_formula(setup, residual):
    """h1 = h + a1 + [u +] Attn_a(u, [u; w S]) with u = LN_a(h + a1), checked on one block by hand."""
    backbone, features, sample, text = setup
    unet = backbone.unet
    name = transformer_block_names(unet)[3]
    block = unet.get_submodule(name)
    fusion = AdapterAttentionModel(AdapterAttentionConfig(residual_connection=residual), backbone)
    with torch.no_grad():
        fusion.learnable_weights[3] = 0.7
    seen = {}
    hooks = [block.norm1.register_forward_pre_hook(lambda m, a: seen.__setitem__("h", a[0])),
             block.norm2.register_forward_pre_hook(lambda m, a: seen.__setitem__("h1", a[0]))]
    attachment = fusion.attach(unet)
    try:
        attachment.set_subject(features)
        predict(backbone, sample, text)
    finally:
        attachment.detach()
        for hook in hooks:
            hook.remove()
    holder = fusion.get_submodule(name)
    with torch.no_grad():
        h = seen["h"]
        a1 = block.attn1(block.norm1(h))
        u = holder.adapter_norm(h + a1)
        s = (features.layers[name] * 0.7).expand(h.shape[0], -1, -1)
        kv = torch.cat([u, s], dim=1)
        heads = holder.adapter.heads

        def split(x):
            return x.view(x.shape[0], x.shape[1], heads, -1).transpose(1, 2)

        q, k, v = split(holder.adapter.to_q(u)), split(holder.adapter.to_k(kv)), split(holder.adapter.to_v(kv))
        weights = torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1)
        o = (weights @ v).transpose(1, 2).reshape(u.shape)
        o = holder.adapter.to_out[0](o) + (u if residual else 0)
        expected = h + a1 + o
    assert torch.allclose(seen["h1"], expected, atol=1e-5)


def test_learnable_weights_scale_the_subject_tokens(setup):
    backbone, features, sample, text = setup
    fusion = AdapterAttentionModel(AdapterAttentionConfig(), backbone)
    attachment = fusion.attach(backbone.unet)
    try:
        attachment.set_subject(features)
        ones = predict(backbone, sample, text)
        with torch.no_grad():
            fusion.learnable_weights.mul_(0.0)
        zeros = predict(backbone, sample, text)
    finally:
        attachment.detach()
    assert not torch.equal(ones, zeros)


def test_save_and_load_round_trip(setup, tmp_path):
    backbone = setup[0]
    fusion = AdapterAttentionModel(AdapterAttentionConfig(), backbone)
    with torch.no_grad():
        for p in fusion.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    path = str(tmp_path / "adapter.safetensors")
    fusion.save_weights(path)
    other = AdapterAttentionModel(AdapterAttentionConfig(), backbone)
    other.load_weights(path)
    for key, value in fusion.state_dict().items():
        assert torch.equal(other.state_dict()[key], value)
    from ezigen.weights_file import read_state_dict

    _, meta = read_state_dict(path)
    assert meta["ezigen.fusion"] == "adapter-attention" and meta["ezigen.backbone"] == "sd"
    assert meta["ezigen.format"] == "1" and "down_blocks.0.attentions.0.transformer_blocks.0" in meta["ezigen.layers"]


def test_sd21_adapter_file_in_an_sdxl_backbone_fails_naming_both(setup, ezigen_backbone_sdxl, tmp_path):
    path = str(tmp_path / "sd21.safetensors")
    AdapterAttentionModel(AdapterAttentionConfig(), setup[0]).save_weights(path)
    sdxl = AdapterAttentionModel(AdapterAttentionConfig(), ezigen_backbone_sdxl)
    with pytest.raises(WeightsError, match=r"made for an SD2.1-style UNet \(11 layers\), but this backbone is SDXL-style \(12"):
        sdxl.load_weights(path)
    xl_path = str(tmp_path / "sdxl.safetensors")
    sdxl.save_weights(xl_path)
    with pytest.raises(WeightsError, match=r"made for an SDXL-style UNet .* but this backbone is SD2.1-style"):
        AdapterAttentionModel(AdapterAttentionConfig(), setup[0]).load_weights(xl_path)


def released_checkpoint(backbone, folder, seed=0):
    """A checkpoint in the released layout: the full main-UNet state dict with trained-looking adapters."""
    from safetensors.torch import save_file

    fusion = AdapterAttentionModel(AdapterAttentionConfig(), backbone)
    attachment = fusion.attach(backbone.unet)
    try:
        state = {k: v.clone() for k, v in backbone.unet.state_dict().items()}
    finally:
        attachment.detach()
    generator = torch.Generator().manual_seed(seed)
    for key in state:
        if ".adapter" in key or key == "learnable_weights":
            state[key] = state[key] + 0.2 * torch.randn(state[key].shape, generator=generator)
    os.makedirs(folder, exist_ok=True)
    save_file(state, os.path.join(folder, "model.safetensors"))  # an Accelerate save_state folder
    return state


def test_released_checkpoint_converts_loads_strictly_and_changes_the_output(setup, tmp_path, capsys):
    from ezigen.cli.main import main

    backbone, features, sample, text = setup
    state = released_checkpoint(backbone, str(tmp_path / "checkpoint-200000"))
    dst = str(tmp_path / "ezigen.safetensors")
    main(["weights", "convert", "--from", "ezigen-official", "--backbone", "tiny:sd21",
          str(tmp_path / "checkpoint-200000"), dst])
    converted = AdapterAttentionModel(AdapterAttentionConfig(), backbone)
    converted.load_weights(dst)
    for key, value in converted.state_dict().items():
        assert torch.equal(value, state[key])
    untrained = AdapterAttentionModel(AdapterAttentionConfig(), backbone)
    outputs = []
    for fusion in (untrained, converted):
        attachment = fusion.attach(backbone.unet)
        try:
            attachment.set_subject(features)
            outputs.append(predict(backbone, sample, text))
        finally:
            attachment.detach()
    assert not torch.equal(outputs[0], outputs[1])
    # the converted file is usable from a recipe
    from tests.conftest import build

    system = build("ablations/ezigen-sd21-single-pass", f"fusion.weights={dst}", "sampling.steps=4")
    assert torch.equal(system.fusion.learnable_weights, state["learnable_weights"])


def test_a_wrong_checkpoint_fails_with_the_key_lists(setup, tmp_path):
    from ezigen.weights_convert import convert_ezigen_official

    backbone = setup[0]
    state = released_checkpoint(backbone, str(tmp_path / "ckpt"))
    del state["learnable_weights"]
    state["up_blocks.1.attentions.0.transformer_blocks.0.adapter.extra_to_k.weight"] = torch.zeros(2, 2)
    state["conv_in.weight"] = torch.zeros(1)
    torch.save(state, str(tmp_path / "pytorch_model.bin"))
    with pytest.raises(WeightsError) as info:
        convert_ezigen_official(str(tmp_path / "pytorch_model.bin"), "tiny:sd21", str(tmp_path / "out.safetensors"))
    text = str(info.value)
    assert "missing keys (1): learnable_weights" in text
    assert "unexpected keys (1): up_blocks.1.attentions.0.transformer_blocks.0.adapter.extra_to_k.weight" in text
    assert "conv_in.weight: file (1,)" in text
    assert not os.path.exists(tmp_path / "out.safetensors")


def test_a_checkpoint_with_16_scalars_for_another_block_count_is_refused_by_name(setup, tmp_path):
    from ezigen.weights_convert import convert_ezigen_official

    backbone = setup[0]
    state = released_checkpoint(backbone, str(tmp_path / "ckpt"))  # the tiny UNet has 11 transformer blocks
    state["learnable_weights"] = torch.ones(16)  # as the released code hard-codes it
    torch.save(state, str(tmp_path / "pytorch_model.bin"))
    with pytest.raises(WeightsError) as info:
        convert_ezigen_official(str(tmp_path / "pytorch_model.bin"), "tiny:sd21", str(tmp_path / "out.safetensors"))
    text = str(info.value)
    assert "learnable_weights holds 16 scalars" in text and "hard-codes ones(16)" in text
    assert "adapters for 11 blocks" in text and "has 11 transformer blocks" in text
    assert "down -> mid -> up" in text and "--backbone stabilityai/stable-diffusion-2-1-base" in text
    assert "shape mismatches" not in text  # not the bare key check
    assert not os.path.exists(tmp_path / "out.safetensors")


def attn1_outputs(backbone, fusion, features, sample, text, gate):
    """Each block's attn1 output a1 + o' with every block's gated_weight set to ``gate``."""
    names = transformer_block_names(backbone.unet)
    with torch.no_grad():
        for name in names:
            adapter = fusion.get_submodule(name).adapter
            if hasattr(adapter, "gated_weight"):
                adapter.gated_weight.fill_(gate)
    seen = {}
    attachment = fusion.attach(backbone.unet)
    handles = [backbone.unet.get_submodule(f"{n}.attn1").register_forward_hook(
        lambda _m, _a, out, n=n: seen.setdefault(n, out.clone())) for n in names[:1]]
    try:
        attachment.set_subject(features)
        predict(backbone, sample, text)
    finally:
        for handle in handles:
            handle.remove()
        attachment.detach()
    return seen[names[0]]


def test_gated_is_the_released_gate_and_tanh_gate_is_ours(setup):
    backbone, features, sample, text = setup
    released = AdapterAttentionModel(AdapterAttentionConfig(gated=True, residual_connection=True), backbone)
    ours = AdapterAttentionModel(AdapterAttentionConfig(tanh_gate=True, residual_connection=True), backbone)
    first = transformer_block_names(backbone.unet)[0]
    assert released.get_submodule(first).adapter.gated_weight.shape == (1, 1)  # as the released class makes it
    assert ours.get_submodule(first).adapter.gated_weight.shape == (1,)
    plain = attn1_outputs(backbone, AdapterAttentionModel(AdapterAttentionConfig(), backbone), None, sample, text, 0)
    # the first block's attn1 output is a1 + o' where (released) o' = g o + u: linear in g, u outside the gate
    r0, r1, r2 = (attn1_outputs(backbone, released, features, sample, text, g) for g in (0.0, 1.0, 2.0))
    torch.testing.assert_close(r2 - r1, r1 - r0, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(r0, plain, atol=1e-3)  # g = 0 still adds u = LN_a(h + a1)
    # at g = 1 the released gate is the ungated double-residual adapter
    ungated = AdapterAttentionModel(AdapterAttentionConfig(residual_connection=True), backbone)
    torch.testing.assert_close(r1, attn1_outputs(backbone, ungated, features, sample, text, 0), rtol=1e-5, atol=1e-5)
    # ours: tanh(g) (o + u): exactly off at g = 0, and not linear in g
    t0, t1, t2 = (attn1_outputs(backbone, ours, features, sample, text, g) for g in (0.0, 1.0, 2.0))
    assert torch.equal(t0, plain)
    expected = plain + torch.tanh(torch.tensor(2.0)) / torch.tanh(torch.tensor(1.0)) * (t1 - plain)
    torch.testing.assert_close(t2, expected, rtol=1e-4, atol=1e-5)


def test_gated_and_tanh_gate_together_are_a_recipe_error():
    import ezigen
    from ezigen.errors import RecipeError

    with pytest.raises(RecipeError, match="at most one of them"):
        ezigen.load_recipe("ezigen-sd21-base", ["fusion.gated=true", "fusion.tanh_gate=true"])
