"""The ``training`` section of a recipe (keys ``training.max_steps``, ``training.checkpoint_every``,
``training.batch_size``, ``training.lr`` are a contract other tools rely on)."""

from __future__ import annotations

import enum

import attrs

from ezigen.config import in_range, setting


class MixedPrecision(enum.Enum):
    NO = "no"
    FP16 = "fp16"
    BF16 = "bf16"


class LRSchedule(enum.Enum):
    CONSTANT = "constant"  # released
    COSINE = "cosine"


class DropoutComparison(enum.Enum):
    """How subject-feature dropout is drawn (spec §3.3)."""

    INTENDED = "intended"  # drop with probability p
    RELEASED = "released"  # the released code's inverted comparison: drop with probability ~1 - p


class TrainTarget(enum.Enum):
    """What is trained: the fusion's weights (adapters), the whole UNet, or the UNet and the text
    encoder together (pretraining a base model, as the toy world does)."""

    FUSION = "fusion"
    UNET = "unet"
    UNET_TEXT = "unet+text"


@attrs.frozen
class TrainingConfig:
    max_steps: int = setting(1000, doc="Optimizer steps to train for.", validator=in_range(1, 10**9))
    checkpoint_every: int = setting(500, doc="Write RUN/checkpoints/step-NNNNNN every this many steps.",
                                    validator=in_range(1, 10**9))
    keep_checkpoints: int = setting(3, doc="Keep the last K checkpoints.", validator=in_range(1, 1000))
    batch_size: int = setting(1, doc="Samples per process per step (released: 1 per GPU).", validator=in_range(1, 4096))
    lr: float = setting(1e-4, doc="AdamW learning rate (released 1e-4).", validator=in_range(0.0, 1.0, low_open=True))
    weight_decay: float = setting(0.01, doc="AdamW weight decay.", validator=in_range(0.0, 1.0))
    betas: tuple[float, float] = setting((0.9, 0.999), doc="AdamW betas, each 0 <= beta < 1.")
    eps: float = setting(1e-8, doc="AdamW epsilon.", validator=in_range(0.0, 1.0, low_open=True))
    warmup_steps: int = setting(0, doc="Linear warm-up steps.", validator=in_range(0, 10**9))
    lr_schedule: LRSchedule = setting(LRSchedule.CONSTANT, doc="constant (released) | cosine (decay to 0 at max_steps), "
                                      "after the warm-up.")
    max_grad_norm: float | None = setting(1.0, doc="Gradient-norm clip; null = none.", validator=in_range(0.0, 1e6, low_open=True))
    gradient_accumulation: int = setting(1, doc="Micro-batches per optimizer step.", validator=in_range(1, 4096))
    mixed_precision: MixedPrecision = setting(MixedPrecision.NO, doc="no | fp16 | bf16 (accelerate).")
    seed: int = setting(3154, doc="Training seed (data order, noise, timesteps, dropout).", validator=in_range(0, 2**63 - 1))
    subject_dropout: float = setting(0.2, doc="Probability of zeroing all subject features of a sample (spec §3.3).",
                                     validator=in_range(0.0, 1.0))
    dropout_comparison: DropoutComparison = setting(
        DropoutComparison.INTENDED,
        doc="intended: drop with probability subject_dropout; released: the released code's inverted test "
        "(randint(1,10)/10 > p: drops 80% for p = 0.2).",
    )
    text_dropout: float = setting(0.0, doc="Probability of replacing the caption by the empty prompt.",
                                  validator=in_range(0.0, 1.0))
    num_sub_img: int = setting(4, doc="Subject slots per sample, padded with zero images (released 4).",
                               validator=in_range(1, 16))
    mask_padding: bool = setting(False, doc="Mask padded subject slots out of the adapter attention "
                                 "(the released code builds this mask but never applies it).")
    timestep_range: tuple[int, int] = setting((0, 1000), doc="Training timesteps drawn uniformly from [low, high).")
    target: TrainTarget = setting(TrainTarget.FUSION, doc="fusion: train the fusion's weights; unet: the whole UNet; "
                                  "unet+text: the UNet and the text encoder (pretraining a base).")
    validate_every: int | None = setting(None, doc="Generate validation images every this many steps; null = never.",
                                         validator=in_range(1, 10**9))
    validation_prompts: tuple[str, ...] = setting((), doc="Prompts for validation images.")
    log_every: int = setting(10, doc="Write a metrics line every this many steps.", validator=in_range(1, 10**9))
    num_workers: int = setting(0, doc="DataLoader worker processes decoding micro-batches ahead of the step; 0 = "
                               "in the training process. Any value gives the same adapter (docs/training.md).",
                               validator=in_range(0, 64))
    prefetch_factor: int = setting(2, doc="Micro-batches each DataLoader worker keeps ready (num_workers > 0 only).",
                                   validator=in_range(1, 64))
    pin_memory: bool = setting(True, doc="Pin the decoded target images in page-locked memory for faster copies to "
                               "the GPU (DataLoader pin_memory; ignored without CUDA).")

    def __attrs_post_init__(self) -> None:
        if not all(0.0 <= beta < 1.0 for beta in self.betas):  # AdamW would refuse them only when training starts
            raise ValueError(f"betas must each satisfy 0 <= beta < 1, got {list(self.betas)}")
        low, high = self.timestep_range
        if not 0 <= low < high <= 1000:
            raise ValueError(f"timestep_range must satisfy 0 <= low < high <= 1000, got {list(self.timestep_range)}")
