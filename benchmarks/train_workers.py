"""``python -m benchmarks.train_workers [--workers 0 2] [--steps 40]``: training samples/s by DataLoader workers.

Trains ``ezigen-sd21-base --tiny`` (fusion only, batch 4, one subject slot) on a synthetic manifest of 512 x 512
JPEG targets and subjects (decoding and resizing cost what real COCO-sized images cost), once per
``training.num_workers`` value, and prints samples/s: the mean of the metrics windows after the
first (which includes start-up). The adapters of all runs are compared too: they must be equal.
"""

from __future__ import annotations

import argparse
import os
import tempfile


def write_jpeg_dataset(folder: str, count: int, size: int = 512) -> str:
    import random

    from PIL import Image, ImageDraw

    from ezigen.data.manifest import Sample, write_manifest

    os.makedirs(os.path.join(folder, "images"), exist_ok=True)
    rng = random.Random(0)
    samples = []
    for i in range(count):
        paths = []
        for role in ("subject", "target"):
            image = Image.new("RGB", (size, size), tuple(rng.randrange(256) for _ in range(3)))
            draw = ImageDraw.Draw(image)
            for _ in range(40):  # some texture, so JPEG decoding does real work
                x, y = rng.randrange(size), rng.randrange(size)
                draw.ellipse((x, y, x + 60, y + 60), fill=tuple(rng.randrange(256) for _ in range(3)))
            path = os.path.join(folder, "images", f"{role}-{i:03d}.jpg")
            image.save(path, quality=90)
            paths.append(path)
        samples.append(Sample((paths[0],), ("a photo of a thing.",), paths[1], "a thing on a background"))
    return write_manifest(folder, samples)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch
    from safetensors.torch import load_file

    import ezigen
    from ezigen.training.loop import read_metrics, train

    root = tempfile.mkdtemp(prefix="ezigen-train-workers-")
    data = os.path.join(root, "data")
    write_jpeg_dataset(data, count=64)
    adapters = {}
    for workers in args.workers:
        recipe = ezigen.load_recipe("ezigen-sd21-base", [
            "training.batch_size=4", f"training.max_steps={args.steps}", f"training.checkpoint_every={args.steps}",
            "training.log_every=5", "training.num_sub_img=1", f"training.num_workers={workers}"], tiny=True)
        run = os.path.join(root, f"run-{workers}")
        summary = train(recipe, data, run, device="cpu", log=lambda _: None, progress=False)
        rates = [m["samples_per_second"] for m in read_metrics(run)][1:]
        print(f"num_workers={workers}: {sum(rates) / len(rates):.2f} samples/s (windows {rates})", flush=True)
        adapters[workers] = load_file(summary["output"])
    first = adapters[args.workers[0]]
    same = all(all(torch.equal(first[k], other[k]) for k in first) for other in adapters.values())
    print(f"identical adapters across num_workers {args.workers}: {same}")


if __name__ == "__main__":
    main()
