"""The methods and variants ``ezigen toy table`` measures (docs/toy-world.md), by name.

A method is a shipped recipe plus ``--set`` overrides; every method generates the same held-out
scenes with the same seeds, so each row pairs with every other (paired differences, SE over
samples). ``text-only`` (DDPM, 50 steps) is the reference every gain is paired against.

Groups: ``base`` (the backbone alone, per sampler), ``ezigen`` (the method and the ablations of its
own claims: decoupling, refinement, stop rule, sampler), ``baseline`` (other ways to feed the
subject: training-free reference attention; trained encoder ablations and IP-Adapter-style
baselines join here when their toy weights exist).
"""

from __future__ import annotations

import attrs

FAST_STEPS = 25  # the fast samplers' step count (DDPM runs 50)


@attrs.frozen
class ToyMethod:
    name: str
    recipe: str
    overrides: tuple[str, ...] = ()
    group: str = "ezigen"
    description: str = ""

    @property
    def uses_subject(self) -> bool:
        return self.group != "base"


def _sampler(name: str) -> tuple[str, ...]:
    return (f"backbone.scheduler={name}", f"sampling.steps={FAST_STEPS}")


METHODS: dict[str, ToyMethod] = {m.name: m for m in (
    ToyMethod("text-only", "toy/text-only", (), "base", "the base alone, DDPM 50 steps (the reference)"),
    ToyMethod("text-only-ddim-25", "toy/text-only", _sampler("ddim"), "base", "the base alone, DDIM 25 steps"),
    ToyMethod("text-only-dpmpp-25", "toy/text-only", _sampler("dpmpp-2m"), "base",
              "the base alone, DPM-Solver++ (2M) 25 steps"),
    ToyMethod("ezigen-single-pass", "toy/ezigen", ("refinement=null",), "ezigen",
              "decoupled guidance, no refinement"),
    ToyMethod("ezigen-single-pass-scale-1", "toy/ezigen", ("refinement=null", "fusion.scale=1.0"), "ezigen",
              "the single pass with the adapters at scale 1 (the shipped recipe applies them at 2)"),
    ToyMethod("ezigen-refined", "toy/ezigen", (), "ezigen", "toy/ezigen as shipped: decoupled guidance, 2 iterations"),
    ToyMethod("ezigen-refined-ddim-25", "toy/ezigen", _sampler("ddim"), "ezigen", "toy/ezigen with DDIM 25 steps"),
    ToyMethod("ezigen-refined-dpmpp-25", "toy/ezigen", _sampler("dpmpp-2m"), "ezigen",
              "toy/ezigen with DPM-Solver++ (2M) 25 steps"),
    ToyMethod("no-decoupling", "toy/ezigen",
              ("guidance.type=constant", "guidance.text_scale=5.0", "refinement=null"), "ezigen",
              "the subject on at every step, single pass"),
    ToyMethod("ezigen-latent-stop", "toy/ezigen",
              ("refinement.stop.type=latent-similarity", "refinement.stop.threshold=0.99",
               "refinement.stop.min_iterations=1", "refinement.stop.max_iterations=4"), "ezigen",
              "refinement stopped when successive latents agree (cos >= 0.99, 1-4 iterations)"),
    ToyMethod("reference-attention", "toy/reference", (), "baseline",
              "training-free reference-only attention on the frozen base (no weights)"),
)}


def select_methods(names: list[str] | tuple[str, ...] | None) -> list[ToyMethod]:
    """The methods named (in table order), always with ``text-only`` (the reference); all when ``names`` is empty.

    Raises ``ValueError`` naming the unknown names and the known ones."""
    if not names:
        return list(METHODS.values())
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise ValueError(f"unknown toy method(s) {', '.join(map(repr, unknown))}; expected some of: "
                         f"{', '.join(METHODS)}")
    wanted = {"text-only", *names}
    return [m for m in METHODS.values() if m.name in wanted]
