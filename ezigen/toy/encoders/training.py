"""``ezigen toy encoder {clip|dino}``: train a toy encoder with fixed step counts, resumably.

One readable loop (AdamW, linear warm-up then cosine decay from transformers, gradient norm
clipped to 1). Every batch and augmentation is a function of (seed, step) (``data``), the models
are built from fixed seeds and have no dropout, so ``--resume`` after a stop gives bit-identical
weights to a straight run. Checkpoints are ezigen's (``ezigen.training.checkpoints``): written into a
temporary folder and renamed when complete, with checksums, the last ``keep_checkpoints`` kept:

    OUT/checkpoints/step-NNNNNN/{modules.safetensors, optimizer.pt, state.json}

After the last step OUT itself becomes the encoder folder (``save_pretrained`` of the model and its
processor: the CLIPModel; for DINO the *teacher* backbone, as DINO evaluates the teacher), and
``OUT/toy-encoder.json`` (the run's summary, loss history included) is written last.
"""

from __future__ import annotations

import os
import random
import shutil
import time
from collections.abc import Callable
from typing import Any

import attrs

from ezigen.errors import EzigenError
from ezigen.io import default_file_mode, write_json_atomic
from ezigen.toy.encoders.models import EMBEDDED, KINDS, SUMMARY, untrained

DEFAULT_STEPS = {"clip": 1500, "dino": 1200}
# DINO at 1e-3 lost linear read-out of colour and shape in pilots (350 steps: shape 0.81, colour 0.53
# against 0.88, 0.66 at 2.5e-4); DINO's own rule, 5e-4 x batch / 256, gives 1.25e-4 at batch 64.
# DINO's weight decay starts at 0.04.
DEFAULT_LR = {"clip": 1e-3, "dino": 2.5e-4}
DEFAULT_WEIGHT_DECAY = {"clip": 0.05, "dino": 0.04}


@attrs.frozen
class EncoderTrainingConfig:
    kind: str = attrs.field(validator=attrs.validators.in_(KINDS))
    steps: int = 0  # 0 = DEFAULT_STEPS[kind]
    batch_size: int = 0  # 0 = 128 (clip) / 64 (dino)
    lr: float = 0.0  # 0 = DEFAULT_LR[kind]
    warmup_steps: int = 100
    weight_decay: float = -1.0  # < 0 = DEFAULT_WEIGHT_DECAY[kind]
    crop_fraction: float = 0.25  # clip: share of crops with class prompts (the rest: scenes with captions)
    seed: int = 0
    world_seed: int = 0
    checkpoint_every: int = 250
    keep_checkpoints: int = 2
    log_every: int = 50

    def resolved(self) -> EncoderTrainingConfig:
        steps = self.steps or DEFAULT_STEPS[self.kind]
        decay = DEFAULT_WEIGHT_DECAY[self.kind] if self.weight_decay < 0 else self.weight_decay
        return attrs.evolve(self, steps=steps, lr=self.lr or DEFAULT_LR[self.kind], weight_decay=decay,
                            batch_size=self.batch_size or (128 if self.kind == "clip" else 64),
                            warmup_steps=min(self.warmup_steps, max(1, steps // 10)))


class EncoderRun:
    """The model, its objective and the per-step batch of one kind."""

    def __init__(self, config: EncoderTrainingConfig):
        from ezigen.toy.encoders.data import crop_pixels, training_subjects

        self.config = config
        self.model, self.processor = untrained(config.kind)
        self.model.train()
        self.subjects = training_subjects(config.world_seed)
        if config.kind == "clip":
            from ezigen.toy.encoders.clip_objective import ClipObjective

            self.objective = ClipObjective(self.model)
            self.parameters = list(self.model.parameters())
        else:
            from ezigen.toy.encoders.dino_objective import DinoObjective, DinoObjectiveConfig

            self.objective = DinoObjective(self.model, DinoObjectiveConfig(), config.steps)
            self.parameters = self.objective.trainable()
            self.crops = crop_pixels(self.subjects, self.processor)  # (400, 3, 32, 32)

    def loss(self, step: int):
        import torch

        cfg = self.config
        if cfg.kind == "clip":
            from ezigen.toy.encoders.data import caption_batch

            images, texts = caption_batch(self.subjects, cfg.seed, step, cfg.batch_size, cfg.crop_fraction)
            inputs = self.processor(images=images, text=texts, padding="max_length", return_tensors="pt")
            return self.objective.loss(inputs, texts)
        index = random.Random(f"toy-dino:{cfg.seed}:{step}").sample(range(len(self.subjects)), cfg.batch_size)
        generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
        return self.objective.loss(self.crops[index], generator)

    def evaluate(self, step: int = 10**9) -> tuple[float, dict[str, Any]]:
        """The objective on the batch of ``step`` (default: one training never draws), with no update."""
        import torch

        with torch.no_grad():
            loss, info = self.loss(step)
        return float(loss), info

    def after_step(self, step: int) -> None:
        if self.config.kind == "clip":
            self.objective.after_step()
        else:
            self.objective.after_step(step)

    def state(self) -> dict[str, Any]:
        return dict(self.model.state_dict()) if self.config.kind == "clip" else self.objective.state()

    def load_state(self, state: dict[str, Any]) -> None:
        if self.config.kind == "clip":
            self.model.load_state_dict(state, strict=True)
        else:
            self.objective.load_state(state)

    def final_model(self) -> Any:
        return self.model if self.config.kind == "clip" else self.objective.teacher


def train_encoder(out: str, config: EncoderTrainingConfig, resume: bool = False,
                  log: Callable[[str], None] = print, stop_after: int | None = None) -> dict[str, Any]:
    """Train to ``config.steps`` (or stop after ``stop_after`` steps of this call, for tests) and, when
    the last step is done, write the encoder folder ``out``. Returns the summary (``toy-encoder.json``)."""
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import get_cosine_schedule_with_warmup

    from ezigen.training import checkpoints

    config = config.resolved()
    if not resume and checkpoints.complete_checkpoints(out):
        raise EzigenError(f"--out {out!r} already holds checkpoints of a run; pass --resume to continue it, "
                          "or choose another folder")
    run = EncoderRun(config)
    optimizer = torch.optim.AdamW(run.parameters, lr=config.lr, weight_decay=config.weight_decay, betas=(0.9, 0.98))
    schedule = get_cosine_schedule_with_warmup(optimizer, config.warmup_steps, config.steps)
    start, history, seconds = 0, [], 0.0

    def load(folder: str) -> None:
        run.load_state(load_file(os.path.join(folder, "modules.safetensors")))
        saved = torch.load(os.path.join(folder, "optimizer.pt"), weights_only=True)
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["scheduler"])

    if resume:
        checkpoints.remove_partial(out)
        state, _ = checkpoints.resume(out, load, log)
        if state is not None:
            if state["counters"].get("config") != attrs.asdict(config):
                raise EzigenError(f"--resume: the checkpoints in {out!r} were trained with "
                                  f"{state['counters'].get('config')}, not {attrs.asdict(config)}; "
                                  "use the same options")
            start, history, seconds = state["step"], list(state["counters"]["history"]), state["counters"]["seconds"]

    def save(step: int) -> None:
        tmp = checkpoints.begin(out, step)
        tensors = {k: v.detach().contiguous() for k, v in run.state().items()}
        save_file(tensors, os.path.join(tmp, "modules.safetensors"))
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": schedule.state_dict()},
                   os.path.join(tmp, "optimizer.pt"))
        counters = {"history": history, "seconds": seconds, "config": attrs.asdict(config)}
        checkpoints.commit(out, tmp, step, {"step": step, "micro_batch": 0, "counters": counters},
                           config.keep_checkpoints)

    end = config.steps if stop_after is None else min(config.steps, start + stop_after)
    for step in range(start, end):
        began = time.perf_counter()
        loss, info = run.loss(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(run.parameters, 1.0)
        optimizer.step()
        schedule.step()
        run.after_step(step + 1)
        seconds += time.perf_counter() - began
        history.append(round(float(loss.detach()), 6))
        done = step + 1
        if done % config.log_every == 0 or done == config.steps:
            window = history[-config.log_every:]
            extra = " ".join(f"{k} {v:.3g}" for k, v in info.items() if k != "batch")
            log(f"toy {config.kind} step {done}/{config.steps}: loss {sum(window) / len(window):.4f} {extra} "
                f"({seconds / done:.3f} s/step)")
        if done % config.checkpoint_every == 0 or done == end:
            save(done)
    summary = {"kind": config.kind, "steps_done": end, "config": attrs.asdict(config),
               "seconds_per_step": round(seconds / max(1, end), 4), "loss_first": history[0] if history else None,
               "loss_last": history[-1] if history else None, "history": history}
    if end == config.steps:
        write_encoder_folder(run.final_model(), run.processor, out, summary)
    return summary


def write_encoder_folder(model: Any, processor: Any, out: str, summary: dict[str, Any]) -> None:
    """``save_pretrained`` of model and processor into ``out`` (each file renamed into place), summary last."""
    tmp = os.path.join(out, ".tmp-encoder")
    shutil.rmtree(tmp, ignore_errors=True)
    model.eval().save_pretrained(tmp)
    processor.save_pretrained(tmp)
    for name in sorted(os.listdir(tmp)):
        os.chmod(os.path.join(tmp, name), default_file_mode())  # as ezigen's own files (writers may use 0600)
        os.replace(os.path.join(tmp, name), os.path.join(out, name))
    os.rmdir(tmp)
    write_json_atomic(os.path.join(out, SUMMARY), summary)


def ship(out: str, kind: str) -> str:
    """Copy the encoder files of ``out`` (not its checkpoints) over ``ezigen/assets/toy/<kind>``, atomically."""
    target = EMBEDDED[f"toy:{kind}"]
    if not os.path.isfile(os.path.join(out, SUMMARY)):
        raise EzigenError(f"{out!r} is not a finished toy encoder (no {SUMMARY}); train it to the end first")
    staging, old = f"{target}.tmp-{os.getpid()}", f"{target}.old-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    for name in os.listdir(out):
        if os.path.isfile(os.path.join(out, name)) and not name.startswith("."):
            shutil.copy2(os.path.join(out, name), os.path.join(staging, name))
    if os.path.exists(target):
        os.rename(target, old)
    os.rename(staging, target)
    shutil.rmtree(old, ignore_errors=True)
    return target
