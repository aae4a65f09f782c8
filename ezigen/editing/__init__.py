"""Subject-driven editing (spec §4.4): put the subject into an existing image, inside a mask.

A mode of the same :class:`~ezigen.system.System` (``System.edit``), not a fork: the source
latent is partially inverted (:mod:`.inversion`, with the released text conditioning of
:mod:`.null_text`), then the late denoising steps run with the subject on while everything
outside the mask is blended back from the inversion (:mod:`.blend`), in the refinement loop's
iterations and stop rule (:mod:`ezigen.sampling.refinement`). Images and masks are prepared in
:mod:`.source`; :mod:`.run` is the loop. Importing this package is cheap (no torch).
"""
