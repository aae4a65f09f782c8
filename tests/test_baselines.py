"""Baselines on the same harness: token encoders, IP-Adapter (official layout, diffusers parity),
reference attention, EZIGen's adapter on CLIP/DINO tokens, and build-time pairing checks."""


import numpy as np
import pytest
import torch
from PIL import Image

import ezigen
from ezigen.errors import PairingError, WeightsError
from ezigen.plugins import components
from ezigen.recipe.schema import validate
from ezigen.values import SubjectInput
from tests.conftest import build

PROMPT = "a red square on a table"


def system_from(data):
    return ezigen.build_system(validate(data, components()))


# --- token encoders -----------------------------------------------------------------------------

@pytest.mark.parametrize("embedding, tokens", [("pooled", 1), ("patch", 65)])
def test_clip_encoder_equals_a_direct_transformers_computation(subject_image, embedding, tokens):
    from ezigen.builtins.encoders.clip import ClipEmbedding, ClipEncoderConfig, ClipSubjectEncoder
    from ezigen.builtins.image_models import load_clip_vision

    encoder = ClipSubjectEncoder(ClipEncoderConfig(pretrained="tiny:clip", embedding=ClipEmbedding(embedding)))
    features = encoder.encode(SubjectInput.from_images([subject_image, subject_image.rotate(90)], "x"))
    model, processor = load_clip_vision("tiny:clip")
    pixels = processor(images=[subject_image, subject_image.rotate(90)], return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        out = model(pixel_values=pixels, output_hidden_states=True)
    expected = out.image_embeds[:, None] if embedding == "pooled" else out.hidden_states[-2]
    assert features.tokens.shape == (1, 2 * tokens, 32)
    assert torch.allclose(features.tokens, expected.reshape(1, -1, 32))
    assert features.info["tokens_per_image"] == tokens
    null = features.extras["null_tokens"]
    assert null.shape == (1, tokens, 32)
    if embedding == "pooled":
        assert torch.equal(null, torch.zeros_like(null))  # IP-Adapter's "no image" embedding


def test_token_encoders_load_from_local_folders(tmp_path, subject_image):
    from ezigen.builtins.encoders.clip import ClipEncoderConfig, ClipSubjectEncoder
    from ezigen.builtins.encoders.dino import DinoEncoderConfig, DinoSubjectEncoder
    from ezigen.builtins.backbones.tiny import save_tiny

    save_tiny("tiny:clip", str(tmp_path / "clip"))
    save_tiny("tiny:dino", str(tmp_path / "dino"))
    subject = SubjectInput.from_images([subject_image], "x")
    for cls, config_cls, tiny in ((ClipSubjectEncoder, ClipEncoderConfig, "clip"),
                                  (DinoSubjectEncoder, DinoEncoderConfig, "dino")):
        extra = {"subfolder": None} if tiny == "clip" else {}
        local = cls(config_cls(pretrained=str(tmp_path / tiny), **extra)).encode(subject)
        memory = cls(config_cls(pretrained=f"tiny:{tiny}")).encode(subject)
        assert torch.allclose(local.tokens, memory.tokens, atol=1e-6)


def test_dino_token_choices(subject_image):
    from ezigen.builtins.encoders.dino import DinoEncoderConfig, DinoSubjectEncoder, DinoTokens

    subject = SubjectInput.from_images([subject_image], "x")
    every = DinoSubjectEncoder(DinoEncoderConfig(pretrained="tiny:dino")).encode(subject).tokens
    cls = DinoSubjectEncoder(DinoEncoderConfig(pretrained="tiny:dino", tokens=DinoTokens.CLS)).encode(subject).tokens
    patch = DinoSubjectEncoder(DinoEncoderConfig(pretrained="tiny:dino", tokens=DinoTokens.PATCH)).encode(subject).tokens
    assert torch.equal(every[:, :1], cls) and torch.equal(every[:, 1:], patch) and patch.shape[1] == 64


def test_token_features_are_cached_per_subject(subject_path):
    system = build("baselines/clip-ipadapter-sd21-base", "sampling.steps=3")
    first = system.generate(PROMPT, subject=subject_path, seed=0).trace.totals["subject_encodings"]
    second = system.generate("another prompt", subject=subject_path, seed=1).trace.totals["subject_encodings"]
    assert (first, second) == (1, 0)


# --- IP-Adapter ------------------------------------------------------------------------------------

def ip_recipe(folder, projection, embedding, weights=None, scale=0.7, steps=5):
    return {
        "backbone": {"pretrained": folder, "scheduler": "ddim", "resolution": 64},
        "subject_encoder": {"type": "clip", "pretrained": "tiny:clip", "embedding": embedding},
        "fusion": {"type": "decoupled-cross-attention", "scale": scale, "projection": projection, "weights": weights},
        "guidance": {"type": "constant", "text_scale": 7.5},
        "sampling": {"steps": steps},
    }


def perturbed_weights(folder, projection, embedding, path):
    system = system_from(ip_recipe(folder, projection, embedding))
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in system.fusion.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=generator))
    system.fusion.save_weights(path)
    return system.fusion.weights_state()


@pytest.mark.parametrize("projection, embedding", [("linear", "pooled"), ("resampler", "patch")])
def test_ip_adapter_matches_diffusers_load_ip_adapter(tiny_folders, tmp_path, subject_path, projection, embedding):
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    from ezigen.builtins.image_models import load_clip_vision

    folder = tiny_folders["sd21"]
    weights = str(tmp_path / "ip.safetensors")
    perturbed_weights(folder, projection, embedding, weights)
    ours = system_from(ip_recipe(folder, projection, embedding, weights)).generate(PROMPT, subject=subject_path, seed=5)
    pipe = StableDiffusionPipeline.from_pretrained(folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pipe.load_ip_adapter(str(tmp_path), subfolder="", weight_name="ip.safetensors", image_encoder_folder=None)
    pipe.image_encoder, pipe.feature_extractor = load_clip_vision("tiny:clip")
    pipe.set_ip_adapter_scale(0.7)
    reference = pipe(PROMPT, ip_adapter_image=Image.open(subject_path).convert("RGB"), num_inference_steps=5,
                     guidance_scale=7.5, height=64, width=64, generator=torch.Generator("cpu").manual_seed(5)).images[0]
    difference = np.abs(np.asarray(ours.image, dtype=np.int16) - np.asarray(reference, dtype=np.int16))
    assert difference.max() <= 1
    plain = build("text-only-sd21-base", f"backbone.pretrained={folder}", "backbone.scheduler=ddim",
                  "backbone.resolution=64", "sampling.steps=5", tiny=False).generate(PROMPT, seed=5)
    assert np.abs(np.asarray(plain.image, dtype=np.int16) - np.asarray(ours.image, dtype=np.int16)).max() > 10


def test_official_nested_bin_layout_loads_strictly_and_a_wrong_one_lists_keys(tiny_folders, tmp_path, subject_path):
    folder = tiny_folders["sd21"]
    state = perturbed_weights(folder, "linear", "pooled", str(tmp_path / "ours.safetensors"))
    nested = {"image_proj": {}, "ip_adapter": {}}
    for key, value in state.items():
        part, rest = key.split(".", 1)
        nested[part][rest] = value.clone()
    torch.save(nested, tmp_path / "ip-adapter_official.bin")  # the layout of h94/IP-Adapter's .bin files
    system = system_from(ip_recipe(folder, "linear", "pooled", str(tmp_path / "ip-adapter_official.bin")))
    for key, value in system.fusion.weights_state().items():
        assert torch.equal(value, state[key])
    del nested["ip_adapter"]["1.to_k_ip.weight"]
    nested["ip_adapter"]["99.to_k_ip.weight"] = torch.zeros(3, 3)
    torch.save(nested, tmp_path / "wrong.bin")
    with pytest.raises(WeightsError) as info:
        system_from(ip_recipe(folder, "linear", "pooled", str(tmp_path / "wrong.bin")))
    assert "missing keys (1): ip_adapter.1.to_k_ip.weight" in str(info.value)
    assert "unexpected keys (1): ip_adapter.99.to_k_ip.weight" in str(info.value)


def test_resampler_layout_round_trips_through_diffusers_converter(ezigen_backbone_sd21):
    from diffusers.loaders.unet import UNet2DConditionLoadersMixin
    from diffusers.models.embeddings import IPAdapterPlusImageProjection

    from ezigen.builtins.fusions.decoupled_cross_attention.ip_adapter_layout import image_proj_to_official

    torch.manual_seed(0)
    module = IPAdapterPlusImageProjection(embed_dims=32, output_dims=32, hidden_dims=64, depth=4, dim_head=64,
                                          heads=1, num_queries=16)
    official = image_proj_to_official(module.state_dict(), "resampler")
    assert "layers.0.0.to_kv.weight" in official and "layers.3.1.3.weight" in official
    back = UNet2DConditionLoadersMixin._convert_ip_adapter_image_proj_to_diffusers(
        ezigen_backbone_sd21.unet, official, low_cpu_mem_usage=False)
    for key, value in module.state_dict().items():
        assert torch.equal(back.state_dict()[key], value)


def test_layer_scales_follow_instantstyle(ezigen_backbone_sd21):
    from ezigen.builtins.fusions.decoupled_cross_attention.model import cross_attention_layers, layer_scale_map

    unet = ezigen_backbone_sd21.unet
    layers = cross_attention_layers(unet)
    scales = layer_scale_map(unet, {"up": {"block_1": [0.0, 1.0, 0.5]}}, layers)
    by_name = dict(zip(layers, scales))
    assert by_name["up_blocks.1.attentions.1.transformer_blocks.0.attn2"] == 1.0
    assert by_name["up_blocks.1.attentions.2.transformer_blocks.0.attn2"] == 0.5
    assert by_name["down_blocks.0.attentions.0.transformer_blocks.0.attn2"] == 0.0
    assert layer_scale_map(unet, None, layers) == [1.0] * len(layers)


def test_ip_adapter_negative_convention(tiny_folders, subject_path):
    folder = tiny_folders["sd21"]
    results = {}
    for negative in ("empty", "subject"):
        data = ip_recipe(folder, "linear", "pooled")
        data["fusion"]["negative"] = negative
        results[negative] = system_from(data).generate(PROMPT, subject=subject_path, seed=1).latents
    assert not torch.equal(results["empty"], results["subject"])


# --- reference attention ----------------------------------------------------------------------------

def test_reference_attention_runs_the_reference_at_every_step(subject_path):
    system = build("baselines/reference-sd21-base", "sampling.steps=6")
    result = system.generate(PROMPT, subject=subject_path, subject_prompt="a disc", seed=2)
    # per step: CFG batch of 2 plus the reference duplicated for CFG (community); one row with the subject prompt
    assert result.trace.totals["unet_evals"] == 6 * 4
    shared = build("baselines/reference-sd21-base", "sampling.steps=6", "fusion.reference_prompt=subject").generate(
        PROMPT, subject=subject_path, subject_prompt="a disc", seed=2)
    assert shared.trace.totals["unet_evals"] == 6 * 3
    plain = build("text-only-sd21-base", "sampling.steps=6",
                  f"guidance.negative_prompt={system.recipe.guidance.config.negative_prompt}").generate(PROMPT, seed=2)
    assert not torch.equal(result.latents, plain.latents)
    off = build("baselines/reference-sd21-base", "sampling.steps=6", "fusion.scale=0").generate(
        PROMPT, subject=subject_path, subject_prompt="a disc", seed=2)
    assert torch.equal(off.latents, plain.latents)


def test_reference_style_fidelity_and_adain_change_the_result(subject_path):
    base = ["sampling.steps=4"]
    run = lambda *extra: build("baselines/reference-sd21-base", *base, *extra).generate(  # noqa: E731
        PROMPT, subject=subject_path, subject_prompt="a disc", seed=2).latents
    default = run()
    assert not torch.equal(default, run("fusion.style_fidelity=0.0"))
    assert not torch.equal(default, run("fusion.adain=true"))


# --- EZIGen's adapter on token encoders; pairing ------------------------------------------------------

@pytest.mark.parametrize("recipe", ["ablations/ezigen-clip-encoder-sd21-base", "ablations/ezigen-dino-encoder-sd21-base"])
def test_encoder_ablations_generate_with_the_full_ezigen_schedule(recipe, subject_path):
    system = build(recipe, "refinement.stop.type=fixed", "refinement.stop.iterations=1")
    trace = system.generate(PROMPT, subject=subject_path, subject_prompt="a disc", seed=0).trace
    assert sum(s.subject for s in trace.steps_of(0)) == 20 and len(trace.steps_of(1)) == 20


def test_pairing_is_checked_before_weights_load(tmp_path):
    with pytest.raises(PairingError) as info:
        build("ezigen-sd21-base", "fusion.type=decoupled-cross-attention",
              f"fusion.weights={tmp_path / 'does-not-exist.safetensors'}")
    text = str(info.value)
    assert "subject_encoder 'unet' produces spatial features" in text
    assert "fusion 'decoupled-cross-attention' accepts only tokens features" in text
    with pytest.raises(PairingError, match="'clip' produces tokens features.*'adapter-attention' accepts only spatial"):
        build("ezigen-sd21-base", "subject_encoder.type=clip")
    with pytest.raises(PairingError, match="'unet' produces spatial features.*'reference-attention' accepts only reference"):
        build("baselines/reference-sd21-base", "subject_encoder.mode=offline")


def test_validate_cli_reports_pairing_errors(capsys):
    from tests.test_cli import assert_user_error, run

    code, _, err = run(["recipes", "validate", "ezigen-sd21-base", "--set", "subject_encoder.type=dino"], capsys)
    assert_user_error(code, err, "'dino' produces tokens features")
