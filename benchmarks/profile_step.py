"""``python -m benchmarks.profile_step [--backbone random:sd21-base] [--resolution 512]``: where a subject-on step goes.

One CFG step (batch 2) of the attached real-size UNet (random weights, synthetic subject features
of the encoder's shapes; benchmarks/real_cpu.py), subject on, after one warm-up, under
``torch.profiler``; prints the top ops by self CPU time (the table in docs/performance.md).
"""

from __future__ import annotations

import argparse
import os


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_step", description=__doc__.split("\n")[0])
    parser.add_argument("--backbone", default="random:sd21-base")
    parser.add_argument("--resolution", type=int, default=512)
    parser.add_argument("--recipe", default="ablations/ezigen-sd21-single-pass")
    parser.add_argument("--plain-path", action="store_true", help="fusion.precompute_subject_kv=false")
    parser.add_argument("--subject-off", action="store_true")
    parser.add_argument("--rows", type=int, default=15)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import attrs
    import torch
    from torch.profiler import ProfilerActivity, profile

    from benchmarks.real_cpu import build, synthetic_features

    system = build(args.backbone, args.resolution, args.recipe, "float32", "cpu")
    if args.plain_path:
        system.fusion.config = attrs.evolve(system.fusion.config, precompute_subject_kv=False)
    backbone = system.backbone
    features = None if args.subject_off else synthetic_features(system)
    latents = torch.randn(backbone.latent_shape(2), generator=torch.Generator().manual_seed(0))
    embeds = backbone.encode_prompt(["", "a photo of a disc on the beach"], None, cfg=False).cond
    with system.attached() as attachment, torch.no_grad():
        attachment.set_subject(features)
        backbone.predict_noise(latents, torch.tensor(381), embeds)  # warm-up
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            attachment.set_subject(features)
            backbone.predict_noise(latents, torch.tensor(381), embeds)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows, max_name_column_width=48))


if __name__ == "__main__":
    main()
