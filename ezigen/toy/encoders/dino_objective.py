"""The DINOv2 stand-in's objective: DINO self-distillation (Caron et al. 2021) on subject crops.

A student (``Dinov2Model`` + :class:`DinoHead`) and a teacher of the same shape whose weights are
an exponential moving average of the student's. Views of one crop: 2 global (random resized crop,
area 40-100 %, 32 px) and ``local_views`` local (area 10-40 %, 16 px; DINOv2 interpolates its
position embeddings). With head outputs g (K prototypes), centre c, temperatures tau_t < tau_s:

    p_t(v) = softmax((g_teacher(v) - c) / tau_t)          (centring, then sharpening)
    L = mean over pairs (u global, v any view, u != v) of  - sum_k p_t(u)_k log softmax(g_student(v) / tau_s)_k
    c <- m_c c + (1 - m_c) mean_batch g_teacher            (after every step)
    theta_t <- m theta_t + (1 - m) theta_s,  m = 1 - (1 - m_0) (cos(pi step / steps) + 1) / 2

Centring keeps one prototype from winning everywhere, sharpening keeps the uniform answer from
winning: together they prevent collapse without negatives.

Augmentations: crops and left-right flips only. Colour jitter, grayscale and solarisation (DINO's
defaults) are left out on purpose: in the toy world a subject *is* its two colours and texture,
and jitter would train the encoder to be invariant to exactly the identity it must carry. Blur is
left out too: at 32 px it erases the textures. Vertical flips are out because they turn a
triangle into a shape the world does not have.

Written by hand because no installed library provides it (transformers has DINOv2's model but not
its training loss or head; lightly / solo-learn are not dependencies): the head, the loss and the
EMA below.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import attrs


@attrs.frozen
class DinoObjectiveConfig:
    prototypes: int = 256  # K
    bottleneck: int = 32
    head_hidden: int = 128
    student_temperature: float = 0.1  # tau_s
    teacher_temperature: float = 0.04  # tau_t
    centre_momentum: float = 0.9  # m_c
    teacher_momentum: float = 0.99  # m_0, raised to 1 by the end (cosine)
    local_views: int = 2
    global_scale: tuple[float, float] = (0.4, 1.0)
    local_scale: tuple[float, float] = (0.1, 0.4)
    local_size: int = 16


def _head_module(dim: int, config: DinoObjectiveConfig):
    import torch

    class DinoHead(torch.nn.Module):
        """MLP (D -> H -> H -> bottleneck), L2-normalised, then cosine to K unit prototypes: (N, D) -> (N, K).

        DINO's last layer is weight-normalised with its norm fixed at 1; normalising the prototype
        rows in ``forward`` is the same map."""

        def __init__(self):
            super().__init__()
            self.mlp = torch.nn.Sequential(
                torch.nn.Linear(dim, config.head_hidden), torch.nn.GELU(),
                torch.nn.Linear(config.head_hidden, config.head_hidden), torch.nn.GELU(),
                torch.nn.Linear(config.head_hidden, config.bottleneck))
            self.prototypes = torch.nn.Parameter(torch.randn(config.prototypes, config.bottleneck) * 0.02)

        def forward(self, x):
            z = torch.nn.functional.normalize(self.mlp(x), dim=-1)  # (N, bottleneck)
            return z @ torch.nn.functional.normalize(self.prototypes, dim=-1).T  # (N, K), in [-1, 1]

    return DinoHead()


class DinoObjective:
    """Student ``model`` + head, EMA teacher, centre; ``loss(crops, step, generator)``."""

    def __init__(self, model: Any, config: DinoObjectiveConfig, steps: int):
        import torch

        self.model, self.config, self.steps = model, config, steps
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(13)
            self.head = _head_module(int(model.config.hidden_size), config)
        self.teacher = copy.deepcopy(model).requires_grad_(False)
        self.teacher_head = copy.deepcopy(self.head).requires_grad_(False)
        self.centre = torch.zeros(1, config.prototypes)  # c, (1, K)

    def trainable(self) -> list[Any]:
        return list(self.model.parameters()) + list(self.head.parameters())

    def state(self) -> dict[str, Any]:
        """Everything but the optimiser that a checkpoint needs (flat tensors)."""
        out = {f"student.{k}": v for k, v in self.model.state_dict().items()}
        out.update({f"head.{k}": v for k, v in self.head.state_dict().items()})
        out.update({f"teacher.{k}": v for k, v in self.teacher.state_dict().items()})
        out.update({f"teacher_head.{k}": v for k, v in self.teacher_head.state_dict().items()})
        out["centre"] = self.centre
        return out

    def load_state(self, state: dict[str, Any]) -> None:
        for prefix, module in (("student.", self.model), ("head.", self.head), ("teacher.", self.teacher),
                               ("teacher_head.", self.teacher_head)):
            module.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}, strict=True)
        self.centre = state["centre"].clone()

    def views(self, crops: Any, generator: Any) -> tuple[Any, list[Any]]:
        """crops (B, 3, 32, 32) -> globals (2B, 3, 32, 32), locals [(B, 3, 16, 16)] * local_views."""
        import torch

        from ezigen.toy.encoders.data import random_resized_crops

        size = crops.shape[-1]
        glob = torch.cat([random_resized_crops(crops, size, self.config.global_scale, generator) for _ in range(2)])
        local = [random_resized_crops(crops, self.config.local_size, self.config.local_scale, generator)
                 for _ in range(self.config.local_views)]
        return glob, local

    def _cls(self, model: Any, pixels: Any):
        return model(pixel_values=pixels).pooler_output  # (N, D): the layer-normed CLS token

    def loss(self, crops: Any, generator: Any):
        import torch
        import torch.nn.functional as F

        cfg = self.config
        batch = crops.shape[0]
        glob, local = self.views(crops, generator)
        with torch.no_grad():
            teacher = self.teacher_head(self._cls(self.teacher, glob))  # (2B, K)
            targets = F.softmax((teacher - self.centre) / cfg.teacher_temperature, dim=-1).chunk(2)  # 2 x (B, K)
        student = [self.head(self._cls(self.model, glob))] + [self.head(self._cls(self.model, v)) for v in local]
        student_views = list(student[0].chunk(2)) + student[1:]  # 2 + local_views x (B, K)
        total, pairs, target_entropy = 0.0, 0, 0.0
        for u, target in enumerate(targets):
            entropy_u = float(-(target * target.clamp_min(1e-12).log()).sum(-1).mean())
            for v, logits in enumerate(student_views):
                if u == v:
                    continue
                log_p = F.log_softmax(logits / cfg.student_temperature, dim=-1)  # (B, K)
                total = total + torch.sum(-target * log_p, dim=-1).mean()
                pairs += 1
                target_entropy += entropy_u
        self._teacher_mean = teacher.mean(dim=0, keepdim=True)  # (1, K), for the centre update
        loss = total / pairs
        # L = H(p_t) + KL(p_t || p_s): the student can only lower the KL part (H(p_t) moves with the centre)
        kl = float(loss.detach()) - target_entropy / pairs
        return loss, {"teacher_entropy": target_entropy / pairs, "kl": kl, "batch": batch}

    def after_step(self, step: int) -> None:
        """EMA of the teacher (momentum m(step)) and of the centre; ``step`` = steps done so far (1-based)."""
        import torch

        m = 1 - (1 - self.config.teacher_momentum) * (math.cos(math.pi * step / self.steps) + 1) / 2
        with torch.no_grad():
            for student, teacher in ((self.model, self.teacher), (self.head, self.teacher_head)):
                for ps, pt in zip(student.parameters(), teacher.parameters()):
                    pt.mul_(m).add_(ps.detach(), alpha=1 - m)
            m_c = self.config.centre_momentum
            self.centre = self.centre * m_c + self._teacher_mean * (1 - m_c)
