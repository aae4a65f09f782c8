"""DreamBench evaluation: reader, plan, sharded generation, metrics, aggregation, reports.

``ezigen eval RECIPE [RECIPE ...] --bench dreambench --data DIR --out DIR`` (``ezigen.cli.eval``)
runs :func:`ezigen.evaluation.harness.evaluate`. The protocol (models, preprocessing, reference
choice, prompt handling) and the output schemas are in ``docs/evaluation.md``.

Modules: ``dreambench`` (reader), ``dreambench_copy`` (``ezigen data dreambench``), ``plan`` (jobs
and shards), ``runner`` (generation, reuse, encoding cost), ``batching`` (seeds in one batch),
``distributed`` (accelerate processes), ``comparability`` (confounds between recipes),
``metric_set`` (metric columns), ``scoring``, ``aggregate``, ``stats`` (bootstrap CIs, paired
differences), ``tables`` (csv / json / md), ``plot`` (fidelity_vs_text.png), ``report_html``.
Nothing here imports torch at import time.
"""
