"""Fast paths change only what they should: batched seeds, the cross-process feature cache,
latent-only refinement and stop rule, torch.compile without graph breaks."""

import numpy as np
import pytest
import torch

from tests.conftest import build

PROMPT = "a disc on the beach"


def test_a_batch_of_seeds_equals_separate_runs(subject_path):
    system = build("ablations/ezigen-sd21-fixed-3", "sampling.steps=8")
    batched = system.generate(PROMPT, subject=subject_path, subject_prompt="a disc", seed=[3, 4, 5])
    assert batched.latents.shape[0] == 3 and batched.seed == [3, 4, 5]
    for i, seed in enumerate([3, 4, 5]):
        alone = system.generate(PROMPT, subject=subject_path, subject_prompt="a disc", seed=seed)
        difference = np.abs(np.asarray(alone.image, dtype=np.int16) - np.asarray(batched.images[i], dtype=np.int16))
        assert difference.max() <= 1
    one_pass = 8 * 2 + 3 * 2 * (8 - 4)
    assert batched.trace.totals["unet_evals"] == 1 + 3 * one_pass  # one subject pass, then rows of one batch


def test_seed_list_must_match_the_images(subject_path):
    from ezigen.errors import EzigenError

    system = build("ablations/ezigen-sd21-single-pass", "sampling.steps=2")
    with pytest.raises(EzigenError, match="2 seeds for 3 images"):
        system.generate(PROMPT, subject=subject_path, subject_prompt="a disc", seed=[1, 2], num_images=3)


def test_disk_feature_cache_is_shared_between_systems(subject_path, tmp_path):
    first = build("ablations/ezigen-sd21-single-pass", "sampling.steps=4", f"sampling.feature_cache={tmp_path}")
    cold = first.generate(PROMPT, subject=subject_path, subject_prompt="a disc", seed=0)
    second = build("ablations/ezigen-sd21-single-pass", "sampling.steps=4", f"sampling.feature_cache={tmp_path}")
    warm = second.generate(PROMPT, subject=subject_path, subject_prompt="a disc", seed=0)
    assert cold.trace.totals["subject_encodings"] == 1 and warm.trace.totals["subject_encodings"] == 0
    assert warm.trace.totals["unet_evals"] == cold.trace.totals["unet_evals"] - 1  # no subject pass at all
    assert torch.equal(cold.latents, warm.latents)
    files = list(tmp_path.rglob("*.safetensors"))
    assert len(files) == 1
    # another subject prompt is another entry
    second.generate(PROMPT, subject=subject_path, subject_prompt="a round thing", seed=0)
    assert len(list(tmp_path.rglob("*.safetensors"))) == 2


def test_a_damaged_cache_entry_is_recomputed(subject_path, tmp_path):
    first = build("ablations/ezigen-sd21-single-pass", "sampling.steps=2", f"sampling.feature_cache={tmp_path}")
    first.generate(PROMPT, subject=subject_path, subject_prompt="a disc", seed=0)
    entry = next(tmp_path.rglob("*.safetensors"))
    entry.write_bytes(b"garbage")
    second = build("ablations/ezigen-sd21-single-pass", "sampling.steps=2", f"sampling.feature_cache={tmp_path}")
    assert second.generate(PROMPT, subject=subject_path, subject_prompt="a disc", seed=0).trace.totals[
        "subject_encodings"] == 1


def test_latent_stop_needs_no_decode_and_respects_its_bounds(subject_path):
    system = build("ezigen-sd21-base", "sampling.steps=10", "refinement.vae_roundtrip=false",
                   "refinement.stop.type=latent-similarity", "refinement.stop.min_iterations=2",
                   "refinement.stop.max_iterations=4")
    totals = system.generate(PROMPT, subject=subject_path, subject_prompt="a disc", seed=0).trace.totals
    assert 2 <= totals["iterations"] <= 4
    assert totals["vae_decodes"] == 1 and totals["vae_encodes"] == 1  # the final image; the subject


def test_attached_adapter_adds_no_graph_break(ezigen_backbone_sd21, subject_image):
    import torch._dynamo as dynamo

    from ezigen.builtins.encoders.unet import UNetEncoderConfig, UNetSubjectEncoder
    from ezigen.builtins.fusions.adapter_attention import AdapterAttentionConfig
    from ezigen.builtins.fusions.adapter_attention.model import AdapterAttentionModel
    from ezigen.values import SubjectInput

    backbone = ezigen_backbone_sd21
    features = UNetSubjectEncoder.from_config(UNetEncoderConfig(), backbone).encode(
        SubjectInput.from_images([subject_image], "a disc"), backbone)
    sample = torch.randn(backbone.latent_shape(2))
    text = backbone.encode_prompt(["a", "b"], None, cfg=False).cond.embeds
    dynamo.reset()
    plain = dynamo.explain(backbone.unet)(sample, torch.tensor(500), encoder_hidden_states=text)
    attachment = AdapterAttentionModel(AdapterAttentionConfig(), backbone).attach(backbone.unet)
    try:
        attachment.set_subject(features)
        dynamo.reset()
        attached = dynamo.explain(backbone.unet)(sample, torch.tensor(500), encoder_hidden_states=text)
    finally:
        attachment.detach()
        dynamo.reset()
    assert attached.graph_break_count == plain.graph_break_count == 0
