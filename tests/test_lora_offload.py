"""A UNet with a LoRA loaded by diffusers' ``load_lora_weights`` (peft) under every fusion, and
``enable_model_cpu_offload`` with the fusion attached (accelerate's hooks, on the CPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ezigen
from ezigen.builtins.backbones.tiny import tiny_pipeline

# one tiny-able SD2.1 recipe per builtin fusion
FUSION_RECIPES = {
    "adapter-attention": "ezigen-sd21-base",
    "token-adapter-attention": "ablations/ezigen-clip-encoder-sd21-base",
    "decoupled-cross-attention": "baselines/clip-ipadapter-sd21-base",
    "reference-attention": "baselines/reference-sd21-base",
}
TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]


def test_every_builtin_fusion_is_covered():
    from ezigen.plugins import components

    builtin = {entry.name for entry in components().registry("fusions").entries() if entry.plugin.startswith("ezigen.")}
    assert builtin == set(FUSION_RECIPES)


def make_pipe(recipe: str, sd):
    pipe = ezigen.EZIGenPipeline.from_pipe(sd, recipe=recipe, tiny=True, overrides=["refinement=null"])
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generate(pipe, subject_image):
    return pipe("a photo of a cat", subject_image=subject_image, subject_prompt="a disc", num_inference_steps=2,
                generator=torch.Generator().manual_seed(0), output_type="np").images


@pytest.fixture(scope="module")
def lora_folder(tmp_path_factory):
    """A random (non-zero) rank-4 LoRA on the tiny SD2.1 UNet's attention projections, saved in diffusers' format."""
    pytest.importorskip("peft")
    from diffusers import StableDiffusionPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    pipe = tiny_pipeline("tiny:sd21")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        # init_lora_weights=False: B is random too, so the LoRA changes the UNet from the start
        pipe.unet.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=TARGETS, init_lora_weights=False))
    folder = tmp_path_factory.mktemp("lora")
    StableDiffusionPipeline.save_lora_weights(str(folder), unet_lora_layers=get_peft_model_state_dict(pipe.unet))
    return str(folder)


@pytest.mark.parametrize("fusion, recipe", FUSION_RECIPES.items())
def test_a_lora_loaded_by_diffusers_works_under_every_fusion(fusion, recipe, lora_folder, subject_image):
    from peft.tuners.tuners_utils import BaseTunerLayer

    plain_sd, lora_sd = tiny_pipeline("tiny:sd21"), tiny_pipeline("tiny:sd21")
    lora_sd.load_lora_weights(lora_folder)
    wrapped = [name for name, module in lora_sd.unet.named_modules() if isinstance(module, BaseTunerLayer)]
    assert wrapped, "the LoRA did not load"
    keys_before = list(lora_sd.unet.state_dict())
    images, weights = {}, {}
    for label, sd in (("plain", plain_sd), ("lora", lora_sd)):
        pipe = make_pipe(recipe, sd)
        assert pipe.system.recipe.fusion.type == fusion
        images[label] = generate(pipe, subject_image)
        weights[label] = {k: v.clone() for k, v in pipe.system.fusion.state_dict().items()}
    # the fusion's copies of UNet layers read the base weights, not the LoRA-merged ones
    assert weights["plain"].keys() == weights["lora"].keys()
    for key, value in weights["plain"].items():
        assert torch.equal(value, weights["lora"][key]), key
    assert np.abs(images["lora"] - images["plain"]).max() > 1 / 255  # the LoRA is in the image
    assert list(lora_sd.unet.state_dict()) == keys_before  # detached: the LoRA'd UNet as it was


def test_base_state_dict_unwraps_peft_layers():
    pytest.importorskip("peft")
    from peft import LoraConfig

    from ezigen.unet.base_layers import base_module, base_state_dict

    unet = tiny_pipeline("tiny:sd21").unet
    attn = unet.get_submodule("down_blocks.0.attentions.0.transformer_blocks.0.attn1")
    expected = {k: v.clone() for k, v in attn.state_dict().items()}
    assert base_module(attn.to_q) is attn.to_q  # nothing wrapped yet
    unet.add_adapter(LoraConfig(r=2, lora_alpha=2, target_modules=TARGETS, init_lora_weights=False))
    assert any("lora_A" in k for k in attn.state_dict())
    unwrapped = base_state_dict(attn)
    assert unwrapped.keys() == expected.keys()
    assert all(torch.equal(unwrapped[k], expected[k]) for k in expected)
    assert base_module(attn.to_q) is attn.to_q.base_layer


@pytest.mark.parametrize("recipe", ["ezigen-sd21-base", "baselines/clip-ipadapter-sd21-base"])
def test_model_cpu_offload_with_the_fusion_attached_gives_the_same_image(recipe, subject_image):
    sd = tiny_pipeline("tiny:sd21")
    pipe = make_pipe(recipe, sd)
    reference = generate(pipe, subject_image)
    pipe.enable_model_cpu_offload(device="cpu")
    assert getattr(pipe.unet, "_hf_hook", None) is not None  # accelerate's hooks are in place
    assert pipe.system.backbone.device == torch.device("cpu", 0)  # the hook's execution device, as diffusers reads it
    calls = []
    hook = pipe.unet._hf_hook
    original = hook.pre_forward

    def counting(module, *args, **kwargs):
        calls.append(1)
        return original(module, *args, **kwargs)

    hook.pre_forward = counting
    offloaded = generate(pipe, subject_image)
    assert calls  # the UNet ran through its offload hook
    np.testing.assert_array_equal(offloaded, reference)
    with pytest.raises(ezigen.EzigenError, match="enable_sequential_cpu_offload is not supported"):
        pipe.enable_sequential_cpu_offload()
