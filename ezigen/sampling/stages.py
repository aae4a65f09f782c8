"""The stage arithmetic of decoupled guidance and refinement (spec §4.2, §4.3), shared by the
builtin schedule, the refinement loop and the cost model.

``released`` evaluates the formulas in floats, as the release does; ``exact`` in rational
arithmetic on the decimal value of f as written. They differ by one step for some (f, T), e.g.
f = 0.8, T = 50: 9 text-only steps released, 10 exact.
"""

from __future__ import annotations

import enum
import math
from fractions import Fraction


class SwitchArithmetic(enum.Enum):
    """How the stage switch and the refinement restart are computed from f and T (spec §4.2, §4.3)."""

    RELEASED = "released"  # float arithmetic, as the released code evaluates it
    EXACT = "exact"  # rational arithmetic on the decimal value of f as written


def _exact(appearance_fraction: float) -> Fraction:
    return Fraction(repr(float(appearance_fraction)))


def subject_off_steps(appearance_fraction: float, num_steps: int,
                      arithmetic: SwitchArithmetic = SwitchArithmetic.RELEASED) -> int:
    """How many leading steps run text-only under the gate "on iff (1 - f) * T < i + 1".

    ``released``: the gate in floats, as the release evaluates it, so the count is
    floor(fl((1 - f) * T)): f = 0.8, T = 50 gives fl(0.2 * 50) = 9.999999999999998, 9 steps.
    ``exact``: floor((1 - f) T) on the decimal value of f as written (a Fraction): 10 steps.
    """
    if arithmetic is SwitchArithmetic.RELEASED:
        return min(num_steps, max(0, math.floor((1 - float(appearance_fraction)) * num_steps)))
    return min(num_steps, int((1 - _exact(appearance_fraction)) * num_steps))  # int() floors a Fraction >= 0


def restart_index(appearance_fraction: float, num_steps: int,
                  arithmetic: SwitchArithmetic = SwitchArithmetic.RELEASED) -> int:
    """The scheduled index k0 where a refinement iteration restarts (spec §4.3).

    ``released``: ``int(T - f * T)`` in floats, as the release slices ``timesteps[k0:]``; it can
    differ from the gate's off-step count (f = 0.8, T = 50: restart 10, gate 9). ``exact``:
    floor((1 - f) T) on the decimal f, the same as :func:`subject_off_steps`.
    """
    if arithmetic is SwitchArithmetic.RELEASED:
        f = float(appearance_fraction)
        return min(num_steps, max(0, int(num_steps - f * num_steps)))
    return subject_off_steps(appearance_fraction, num_steps, arithmetic)


def renoise_timestep(appearance_fraction: float, num_train_timesteps: int = 1000,
                     arithmetic: SwitchArithmetic = SwitchArithmetic.RELEASED) -> int:
    """The re-noising timestep of ``renoise: official``: int(f * 1000) (floats) or floor(f * 1000) (exact),
    capped at the last training timestep."""
    if arithmetic is SwitchArithmetic.RELEASED:
        t_noise = int(float(appearance_fraction) * num_train_timesteps)
    else:
        t_noise = int(_exact(appearance_fraction) * num_train_timesteps)
    return min(t_noise, num_train_timesteps - 1)
