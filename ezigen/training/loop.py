"""The training loop, in one readable place (nanoGPT-style), on accelerate.

``train(recipe, data, run)`` trains exactly the recipe's trainable part — the fusion's weights
(EZIGen adapters + scalars; IP-Adapter projection + image key/value weights), or the whole UNet
when ``training.target: unet`` — with everything else frozen and in eval mode. The same code
runs on CPU, one GPU or many (``accelerate launch``): accelerate places models, wraps the
trainable module in DDP, applies mixed precision and gradient accumulation, and saves/loads
optimizer and scheduler state; sample order and randomness are our own pure functions of the
micro-batch index (see dataset.py and step.py), which is what makes resuming exact. Images are
decoded by a ``torch.utils.data.DataLoader`` (``training.num_workers`` processes) whose sampler starts
at the resumed micro-batch; the loaded data do not depend on the number of workers.

Outputs in RUN/: ``checkpoints/step-NNNNNN/`` (atomic; last K kept), ``adapter.safetensors``
(or ``unet/``) at the end, ``metrics.jsonl``, ``recipe.yaml``, ``validation/step-NNNNNN/*.png``.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from typing import Any

from ezigen import defaults
from ezigen.errors import DataError, EzigenError
from ezigen.training import checkpoints
from ezigen.training.config import TrainingConfig, TrainTarget


class TrainingError(EzigenError):
    """Training cannot go on (diverged, nothing to train, a run folder in the way)."""


def train(recipe: Any, data: str, run: str, *, resume: bool = False, skip_bad: bool = False, device: str = "auto",
          log: Callable[[str], None] = print, progress: bool = True) -> dict[str, Any]:
    """Train; returns a summary (steps, final loss, skipped samples, paths)."""
    import torch
    from accelerate import Accelerator
    from diffusers.optimization import get_scheduler

    from ezigen.build import build_system
    from ezigen.data.manifest import read_manifest
    from ezigen.io import write_text_atomic
    from ezigen.recipe.yaml_loader import dump_yaml
    from ezigen.training.dataset import MicroBatchDataset, derived_seed, micro_batch_loader
    from ezigen.training.metrics_log import MetricsLog
    from ezigen.training.step import TrainingModel, training_loss

    config: TrainingConfig = recipe.training or TrainingConfig()
    accelerator = Accelerator(
        mixed_precision=config.mixed_precision.value,
        gradient_accumulation_steps=config.gradient_accumulation,
        # without a GPU, distributed runs are multi-CPU (gloo): accelerate needs cpu=True to see them
        cpu=device == "cpu" or (device == "auto" and not torch.cuda.is_available()),
    )
    main = accelerator.is_main_process
    _prepare_run_folder(run, resume, main)
    samples, bad_lines = read_manifest(data, skip_bad=skip_bad)
    for line in bad_lines:
        log(f"skipped: {line}")

    system = build_system(recipe)  # its own backbone: a UNet that trains is shared with nothing
    system.to(accelerator.device)
    backbone = system.backbone
    train_fusion = config.target is TrainTarget.FUSION
    for member, needed in (("training_scheduler", True), ("text_encoder", config.target is TrainTarget.UNET_TEXT)):
        if needed and not hasattr(backbone, member):  # optional Backbone members (ezigen.interfaces)
            raise TrainingError(f"backbone {recipe.backbone.type!r} has no {member}, which training "
                                f"(target {config.target.value}) needs")
    if train_fusion:
        if system.fusion is None or not system.fusion.trainable_parameters():
            raise TrainingError(f"recipe {recipe.name!r} has no trainable fusion "
                                f"({recipe.fusion.type if recipe.fusion else 'none'}); "
                                "set training.target: unet to train the whole UNet")
        trainable = system.fusion
        attachment = trainable.attach(backbone.unet)
        defaults.set_mask_padding(attachment, config.mask_padding)
    else:
        trainable, attachment = torch.nn.ModuleDict({"unet": backbone.unet}), None
        if config.target is TrainTarget.UNET_TEXT:
            trainable["text_encoder"] = backbone.text_encoder
        trainable.requires_grad_(True)
    trainable.train()
    parameters = [p for p in trainable.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=config.lr, betas=tuple(config.betas), weight_decay=config.weight_decay,
                                  eps=config.eps)
    # accelerate steps a prepared scheduler once per process per optimizer step, hence the factor
    schedule = "constant_with_warmup" if config.lr_schedule.value == "constant" else "cosine"
    lr_scheduler = get_scheduler(schedule, optimizer, num_warmup_steps=config.warmup_steps * accelerator.num_processes,
                                 num_training_steps=config.max_steps * accelerator.num_processes)
    model = TrainingModel(trainable, backbone, attachment)
    model, optimizer, lr_scheduler = accelerator.prepare(model, optimizer, lr_scheduler)

    step, micro_batch, counters = 0, 0, {"skipped_samples": len(bad_lines), "samples": 0}
    if resume:  # the newest checkpoint that verifies (checksums at save time); damaged ones are skipped
        try:
            state, damaged = checkpoints.resume(
                run, lambda folder: accelerator.load_state(os.path.join(folder, "accelerate")), log)
        except BaseException:
            if attachment is not None:  # the backbone may be the process-wide cached one: leave it clean
                attachment.detach()
            raise
        accelerator.wait_for_everyone()  # every process has chosen and loaded before the damaged ones move
        if main and damaged:
            log("moved aside: " + ", ".join(checkpoints.set_aside(damaged)))
        if state is not None:
            step, micro_batch, counters = state["step"], state["micro_batch"], state["counters"]
    if main:
        write_text_atomic(os.path.join(run, "recipe.yaml"), dump_yaml(recipe.to_data()))
    metrics = MetricsLog(os.path.join(run, "metrics.jsonl"), enabled=main, truncate_after=step)
    bar = _progress_bar(config.max_steps, step, enabled=progress and main)
    rank, world = accelerator.process_index, accelerator.num_processes
    started, window_samples, window_start = time.perf_counter(), 0, time.perf_counter()
    loss_value = math.nan
    dataset = MicroBatchDataset(samples, config.seed, config.batch_size, world, rank, backbone.resolution)
    # every optimizer step takes gradient_accumulation micro-batches, and a checkpoint lies on a step boundary
    stop = micro_batch + (config.max_steps - step) * config.gradient_accumulation

    try:
        batches = iter(micro_batch_loader(dataset, micro_batch, stop, config.num_workers, config.pin_memory,
                                          config.prefetch_factor))
        while step < config.max_steps:
            loaded = next(batches)
            if loaded.index != micro_batch:  # the sampler and the loop's counter agree, or resume would not be exact
                raise TrainingError(f"data loader delivered micro-batch {loaded.index}, expected {micro_batch}")
            batch = _checked_batch(loaded, skip_bad, counters, log)
            generator = torch.Generator().manual_seed(derived_seed("step", config.seed, micro_batch, rank))
            micro_batch += 1
            with accelerator.accumulate(model):
                if batch:
                    loss = training_loss(model, backbone, system.encoder, batch, config, generator, train_fusion,
                                         encoder_spec=system.recipe.subject_encoder, pixels=loaded.pixels)
                else:  # every sample of this micro-batch was bad and skipped: contribute nothing
                    loss = sum(p.sum() for p in parameters) * 0.0
                losses = accelerator.gather(loss.detach().reshape(1))
                if not bool(torch.isfinite(losses).all()):
                    last = checkpoints.latest_checkpoint(run)
                    where = last[1] if last else "none yet"
                    raise TrainingError(f"the loss became {losses.tolist()} at step {step + 1}: training stopped; "
                                        f"the last good checkpoint is {where}")
                accelerator.backward(loss)
                if accelerator.sync_gradients and config.max_grad_norm is not None:
                    accelerator.clip_grad_norm_(parameters, config.max_grad_norm)
                optimizer.step()
                lr_scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            counters["samples"] += len(batch) * world
            window_samples += len(batch) * world
            if not accelerator.sync_gradients:
                continue
            step += 1
            loss_value = float(losses.mean())
            if step % config.log_every == 0 or step == config.max_steps:
                now = time.perf_counter()
                rate = window_samples / max(now - window_start, 1e-9)
                metrics.write({"step": step, "loss": loss_value, "lr": lr_scheduler.get_last_lr()[0],
                               "samples_per_second": round(rate, 2), "skipped_samples": counters["skipped_samples"],
                               "seconds": round(now - started, 2)})
                window_samples, window_start = 0, now
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss_value:.4f}")
            if step % config.checkpoint_every == 0 or step == config.max_steps:
                _save_checkpoint(accelerator, run, step, micro_batch, counters, trainable, config, train_fusion)
            if config.validate_every and step % config.validate_every == 0:
                attachment = _validate(accelerator, system, samples, config, run, step, model, attachment)
    finally:
        batches = None  # the loader's iterator shuts its worker processes down when it is freed
        if bar is not None:
            bar.close()
        if attachment is not None:
            attachment.detach()
    accelerator.wait_for_everyone()
    in_sync = _replicas_in_sync(accelerator, parameters)
    output = _save_final(run, trainable, train_fusion, main)
    # Drop the DDP wrapper (and its gloo Reducer) while the process group still exists. Left to the caller's frame,
    # the Reducer is freed after `end_training` destroyed the group, and its destructor then joins gloo's worker
    # threads while holding the GIL one of them needs: a hang at exit, seen in about 1 run in 5 on 2 CPU processes.
    model, optimizer, lr_scheduler = accelerator.free_memory(model, optimizer, lr_scheduler)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return {"steps": step, "loss": loss_value, "skipped_samples": counters["skipped_samples"], "output": output,
            "processes": world, "replicas_in_sync": in_sync, "samples_seen": counters["samples"]}


def _replicas_in_sync(accelerator: Any, parameters: list[Any]) -> bool:
    """Whether every process ends with the same trainable weights (DDP keeps them equal)."""
    import torch

    checksum = torch.stack([p.detach().double().sum() for p in parameters]).sum().reshape(1).to(accelerator.device)
    gathered = accelerator.gather(checksum)
    return bool(torch.allclose(gathered, gathered[:1].expand_as(gathered), rtol=1e-9, atol=1e-9))


def _prepare_run_folder(run: str, resume: bool, main: bool) -> None:
    if os.path.exists(run) and not os.path.isdir(run):
        raise TrainingError(f"--out {run!r} exists and is not a folder")
    if not resume and checkpoints.complete_checkpoints(run):
        raise TrainingError(f"--out {run!r} already holds a training run; use --resume to continue it "
                            "or choose another --out")
    if main:
        os.makedirs(run, exist_ok=True)
        checkpoints.remove_partial(run)


def _checked_batch(loaded: Any, skip_bad: bool, counters: dict[str, int], log: Callable[[str], None]) -> list[Any]:
    """The samples of a loaded micro-batch that decoded; a bad one stops the run, or with --skip-bad is counted."""
    for message in loaded.errors:
        if not skip_bad:
            raise DataError(f"{message} (use --skip-bad to skip and count bad samples)")
        counters["skipped_samples"] += 1
        log(f"skipped: {message}")
    return loaded.items


def _save_checkpoint(accelerator: Any, run: str, step: int, micro_batch: int, counters: dict[str, int],
                     trainable: Any, config: TrainingConfig, train_fusion: bool) -> None:
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        tmp = checkpoints.begin(run, step)
        accelerator.save_state(os.path.join(tmp, "accelerate"))
        _save_trainable(trainable, train_fusion, tmp)
        checkpoints.commit(run, tmp, step, {"step": step, "micro_batch": micro_batch, "counters": counters},
                           keep=config.keep_checkpoints)
    accelerator.wait_for_everyone()


def _save_trainable(trainable: Any, train_fusion: bool, folder: str) -> str:
    """The fusion as ``adapter.safetensors``, or each trained backbone part as a diffusers/transformers folder."""
    if train_fusion:
        path = os.path.join(folder, "adapter.safetensors")
        trainable.save_weights(path)  # atomic
        return path
    for name, module in trainable.items():
        module.save_pretrained(os.path.join(folder, name))
    return os.path.join(folder, "unet")


def _save_final(run: str, trainable: Any, train_fusion: bool, main: bool) -> str:
    """Final weights in RUN/; backbone parts go through a temporary folder renamed into place."""
    import shutil

    if train_fusion:
        return _save_trainable(trainable, True, run) if main else os.path.join(run, "adapter.safetensors")
    if main:
        tmp = os.path.join(run, ".tmp-final")
        shutil.rmtree(tmp, ignore_errors=True)
        _save_trainable(trainable, False, tmp)
        for name in trainable:
            shutil.rmtree(os.path.join(run, name), ignore_errors=True)
            os.rename(os.path.join(tmp, name), os.path.join(run, name))
        shutil.rmtree(tmp, ignore_errors=True)
    return os.path.join(run, "unet")


def _validate(accelerator: Any, system: Any, samples: list[Any], config: TrainingConfig, run: str, step: int,
              model: Any, attachment: Any) -> Any:
    """Validation images through the recipe's own generate path (main process); returns the re-made attachment."""
    import torch

    from ezigen.images import save_image_atomic

    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if attachment is not None:
            attachment.detach()  # generate() attaches the fusion itself
            system.fusion.eval()
        folder = os.path.join(run, "validation", checkpoints.step_name(step))
        os.makedirs(folder, exist_ok=True)
        prompts = list(config.validation_prompts) or [samples[0].caption]
        sample = samples[0]
        subject = list(sample.subjects) if system.needs_subject else None
        with torch.no_grad():
            for i, prompt in enumerate(prompts):
                result = system.generate(prompt, subject=subject, subject_prompt=sample.subject_prompts[0], seed=i)
                save_image_atomic(result.image, os.path.join(folder, f"{i:02d}.png"))
        if system.fusion is not None:
            system.fusion.train()
            attachment = system.fusion.attach(system.backbone.unet)
            defaults.set_mask_padding(attachment, config.mask_padding)
            model_module = accelerator.unwrap_model(model)
            model_module.set_attachment(attachment)
    accelerator.wait_for_everyone()
    return attachment


def _progress_bar(total: int, done: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, desc="train", unit="step", dynamic_ncols=True)


def read_metrics(run: str) -> list[dict[str, Any]]:
    path = os.path.join(run, "metrics.jsonl")
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
