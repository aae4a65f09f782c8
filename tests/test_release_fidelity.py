"""Fidelity to the released code (issue 18): each difference found side by side has a released
setting, and that setting computes what the release computes (spec §2.2, §3.1, §4.2, §4.3)."""

import numpy as np
import pytest
import torch
from PIL import Image

import ezigen
from ezigen.builtins.encoders.unet import SubjectPreprocess, UNetEncoderConfig, UNetSubjectEncoder
from ezigen.values import SubjectInput

RELEASED_RECIPES = ["ezigen-sd21-base", "ezigen-sdxl-base"]


def released_pixels(path, size):
    """The release by hand: Image.open().convert('RGB'), Resize((size, size)) bilinear, ToTensor, Normalize(0.5, 0.5)."""
    image = Image.open(path).convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.float32) / 255.0  # (H, W, 3)
    return (torch.from_numpy(array).permute(2, 0, 1) - 0.5) / 0.5  # (3, H, W)


def encoder_pixels(preprocess, path, size):
    encoder = UNetSubjectEncoder(UNetEncoderConfig(preprocess=preprocess))
    subject = SubjectInput.from_images([encoder.load_image(path)], "a thing")
    return encoder.preprocess(subject, size)[0]


def wide_transparent_subject(tmp_path):
    """40x20, transparent black everywhere but an opaque red square on the left."""
    image = Image.new("RGBA", (40, 20), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (0, 0, 10, 20))
    path = tmp_path / "wide.png"
    image.save(path)
    return str(path)


# --- item 1: subject preprocessing --------------------------------------------------------------

@pytest.mark.parametrize("name", RELEASED_RECIPES)
def test_released_recipes_stretch_the_subject(name):
    assert ezigen.load_recipe(name).subject_encoder.config.preprocess is SubjectPreprocess.STRETCH


def test_stretch_equals_the_released_transform_bit_for_bit(tmp_path):
    path = wide_transparent_subject(tmp_path)
    pixels = encoder_pixels(SubjectPreprocess.STRETCH, path, 16)
    assert torch.equal(pixels, released_pixels(path, 16))
    # alpha dropped: the transparent area keeps its stored black (-1), and the red fills the left quarter
    assert pixels[:, 8, 15].tolist() == [-1.0, -1.0, -1.0]
    assert pixels[:, 8, 1].tolist() == [1.0, -1.0, -1.0]


def test_stretch_ignores_exif_orientation_as_released(tmp_path):
    image = Image.new("RGB", (40, 20), "white")
    image.paste((255, 0, 0), (0, 0, 10, 20))  # red on the left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW on display"
    path = tmp_path / "x.jpg"
    image.save(path, exif=exif.tobytes(), quality=95)
    stretched = UNetSubjectEncoder(UNetEncoderConfig(preprocess=SubjectPreprocess.STRETCH)).load_image(str(path))
    padded = UNetSubjectEncoder(UNetEncoderConfig(preprocess=SubjectPreprocess.PAD_WHITE)).load_image(str(path))
    assert stretched.size == (40, 20) and padded.size == (20, 40)
    assert torch.equal(encoder_pixels(SubjectPreprocess.STRETCH, str(path), 16), released_pixels(path, 16))


def test_pad_white_composites_on_white_and_pads_to_a_square(tmp_path):
    path = wide_transparent_subject(tmp_path)
    pixels = encoder_pixels(SubjectPreprocess.PAD_WHITE, path, 16)  # 40x40 canvas: rows 0-9 and 30-39 padding
    assert pixels[:, 0, 8].tolist() == [1.0, 1.0, 1.0]  # padding is white
    assert pixels[:, 8, 15].tolist() == [1.0, 1.0, 1.0]  # transparency composited on white
    assert pixels[:, 8, 1].tolist() == [1.0, -1.0, -1.0]  # the red square, not stretched: x < 10/40 * 16
    assert pixels[:, 8, 5].tolist() == [1.0, 1.0, 1.0]


def test_the_system_decodes_subjects_as_the_encoder_says(tmp_path):
    from tests.conftest import build

    path = wide_transparent_subject(tmp_path)
    for value, corner in (("stretch", (0, 0, 0)), ("pad-white", (255, 255, 255))):
        system = build("ablations/ezigen-sd21-single-pass", f"subject_encoder.preprocess={value}")
        assert system.subject_input(path, "a thing").images[0].getpixel((39, 0)) == corner


# --- item 2: stage-switch arithmetic ------------------------------------------------------------

@pytest.mark.parametrize("name", RELEASED_RECIPES)
def test_released_recipes_switch_in_released_arithmetic(name):
    from ezigen.sampling.stages import SwitchArithmetic

    assert ezigen.load_recipe(name).guidance.config.switch_arithmetic is SwitchArithmetic.RELEASED


def test_recipes_show_resolved_names_both_release_keys(capsys):
    from tests.conftest import run_cli

    code, out, err = run_cli(["recipes", "show", "ezigen-sd21-base", "--resolved"], capsys)
    assert code == 0, err
    assert "  preprocess: stretch\n" in out and "  switch_arithmetic: released\n" in out


def test_trace_of_f_08_t_50_has_9_text_only_steps_and_restarts_at_10(tmp_path, capsys, subject_path):
    import json

    from tests.conftest import run_cli

    out = tmp_path / "run"
    code, _, err = run_cli(["generate", "ablations/ezigen-sd21-fixed-3", "--tiny", "--prompt", "a cat",
                            "--subject", str(subject_path), "--subject-prompt", "a thing", "--out", str(out),
                            "--set", "guidance.appearance_fraction=0.8", "--set", "refinement.stop.iterations=1",
                            "--set", "backbone.resolution=32"], capsys)
    assert code == 0, err
    steps = json.loads((out / "trace.json").read_text())["steps"]
    initial = [s for s in steps if s["iteration"] == 0]
    # released: fl(1 - 0.8) * 50 = 9.999999999999998 < i + 1 from i = 9 on
    assert [s["subject"] for s in initial] == [False] * 9 + [True] * 41
    # ... but the restart slices timesteps[int(50 - 0.8 * 50)] = timesteps[10]: t = 981 - 20 * 10
    refined = [s for s in steps if s["iteration"] == 1]
    assert [s["index"] for s in refined] == list(range(10, 50)) and refined[0]["timestep"] == 781
    assert all(s["subject"] for s in refined)


@pytest.mark.parametrize("arithmetic, off", [("released", 9), ("exact", 10)])
def test_the_recipe_key_picks_the_arithmetic(arithmetic, off):
    recipe = ezigen.load_recipe("ezigen-sd21-base", ["guidance.appearance_fraction=0.8",
                                                     f"guidance.switch_arithmetic={arithmetic}"])
    schedule = recipe.guidance.build()
    assert [schedule.at(i, 50).subject_active for i in range(50)] == [False] * off + [True] * (50 - off)


# --- item 3: padded training slots --------------------------------------------------------------

def padded_slot_embeds(backbone, pad_prompt, monkeypatch):
    """The text embeddings encode_batch hands the UNet for [real subject, padded slot]."""
    from ezigen.builtins.encoders.unet import PadPrompt

    seen = {}
    original = backbone.predict_noise

    def spy(latents, timestep, embeds, unet=None):
        seen["embeds"] = embeds
        return original(latents, timestep, embeds, unet=unet)

    monkeypatch.setattr(backbone, "predict_noise", spy)
    encoder = UNetSubjectEncoder(UNetEncoderConfig(pad_prompt=PadPrompt(pad_prompt)))
    features = encoder.encode_batch([[Image.new("RGB", (8, 8), "red")]], [["a photo of a dog."]], 2, backbone,
                                    torch.Generator().manual_seed(0))
    assert features.slot_mask.tolist() == [[True, False]]
    return seen["embeds"]


@pytest.mark.parametrize("kind", ["sd21", "sdxl"])
def test_padded_slots_get_all_zero_token_ids_as_released(kind, request, monkeypatch):
    backbone = request.getfixturevalue(f"ezigen_backbone_{kind}")
    embeds = padded_slot_embeds(backbone, "released", monkeypatch)
    real = backbone.encode_prompt(["a photo of a dog."], None, cfg=False).cond
    empty = backbone.encode_prompt([""], None, cfg=False).cond
    with torch.no_grad():  # by hand: the text encoder on 77 zeros (no BOS/EOS), spec §3.1
        zeros = torch.zeros(1, backbone.tokenizer.model_max_length, dtype=torch.long)
        if kind == "sd21":
            by_hand = backbone.text_encoder(zeros)[0]
        else:
            first = backbone.text_encoder(zeros, output_hidden_states=True)
            second = backbone.text_encoder_2(zeros, output_hidden_states=True)
            by_hand = torch.cat([first.hidden_states[-2], second.hidden_states[-2]], dim=-1)
            assert torch.equal(embeds.pooled[1:], second[0]) and not torch.equal(embeds.pooled[1:], empty.pooled)
    assert torch.equal(embeds.embeds[:1], real.embeds)
    assert torch.equal(embeds.embeds[1:], by_hand)
    assert not torch.allclose(embeds.embeds[1:], empty.embeds)


def test_pad_prompt_empty_keeps_the_empty_prompt(ezigen_backbone_sd21, monkeypatch):
    embeds = padded_slot_embeds(ezigen_backbone_sd21, "empty", monkeypatch)
    assert torch.equal(embeds.embeds[1:], ezigen_backbone_sd21.encode_prompt([""], None, cfg=False).cond.embeds)


# --- item 4: contiguous subject tensors ---------------------------------------------------------

def test_to_tensor_is_contiguous_nchw_like_torchvision(tmp_path):
    from ezigen.images import to_tensor

    path = wide_transparent_subject(tmp_path)
    image = Image.open(path).convert("RGB")
    pixels = to_tensor([image, image], 16)  # (2, 3, 16, 16)
    assert pixels.shape == (2, 3, 16, 16)
    assert pixels.is_contiguous() and pixels.stride() == (768, 256, 16, 1)  # not channels-last
    assert torch.equal(pixels[0], released_pixels(path, 16))


def test_the_vae_sees_the_same_bits_as_for_a_contiguous_tensor(ezigen_backbone_sd21, subject_image):
    from ezigen.images import to_tensor

    pixels = to_tensor([subject_image], ezigen_backbone_sd21.resolution)
    with torch.no_grad():
        ours = ezigen_backbone_sd21.vae.encode(pixels).latent_dist.mean
        contiguous = ezigen_backbone_sd21.vae.encode(pixels.clone(memory_format=torch.contiguous_format)).latent_dist.mean
    assert torch.equal(ours, contiguous)


# --- item 7: autocast ---------------------------------------------------------------------------

def test_autocast_runs_the_unet_in_the_autocast_dtype_and_off_is_float32(subject_path):
    from tests.conftest import build

    runs = {}
    for value in ("null", "bfloat16"):
        system = build("ablations/ezigen-sd21-single-pass", "sampling.steps=3", f"sampling.autocast={value}")
        seen = set()
        handle = system.backbone.unet.conv_in.register_forward_hook(lambda _m, _a, out: seen.add(out.dtype))
        try:
            runs[value] = system.generate("a disc", subject=subject_path, subject_prompt="a disc", seed=1).latents
        finally:
            handle.remove()
        # subject encoding and denoising both ran under autocast (or neither did)
        assert seen == ({torch.float32} if value == "null" else {torch.bfloat16}), value
    assert runs["null"].dtype == runs["bfloat16"].dtype == torch.float32
    assert not torch.equal(runs["null"], runs["bfloat16"])
    assert ezigen.load_recipe("ezigen-sd21-base").sampling.autocast is None  # float32 unless asked


# --- item 9: the SDXL refinement restart --------------------------------------------------------

@pytest.mark.parametrize("overrides, index, timestep", [
    ([], 6, 651),  # spec §4.3 on infer_sdxl.py@445f642: the scheduled timestep nearest below 1000 f = 700
    (["refinement.appearance_fraction=0.65"], 7, 601),  # the later restart of another dev pipeline version
])
def test_sdxl_refinement_restarts_where_docs_say(overrides, index, timestep):
    from diffusers import DDPMScheduler

    from ezigen.sampling.refinement import restart_plan

    recipe = ezigen.load_recipe("ezigen-sdxl-base", overrides)
    guidance, refinement = recipe.guidance.config, recipe.refinement.config
    fraction = refinement.appearance_fraction or guidance.appearance_fraction
    start, t_noise = restart_plan(fraction, recipe.sampling.steps, refinement.renoise,
                                  arithmetic=guidance.switch_arithmetic)
    scheduler = DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, steps_offset=1,
                              timestep_spacing="leading")  # SDXL-base's scheduler config
    scheduler.set_timesteps(recipe.sampling.steps)
    assert (start, t_noise) == (index, None)  # snap: noised to the restart step's own level
    assert int(scheduler.timesteps[start]) == timestep
    # the initial pass still switches at 6 (f = 0.7 in the guidance): 6 text-only steps, then 14 with the subject
    schedule = recipe.guidance.build()
    assert [schedule.at(i, 20).subject_active for i in range(20)].count(False) == 6
