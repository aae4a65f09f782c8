"""DreamBench evaluation: reader, plan, sharded generation, metrics, aggregation, reports.

``ezigen eval RECIPE [RECIPE ...] --bench dreambench --data DIR --out DIR`` (``ezigen.cli.eval``)
runs :func:`ezigen.evaluation.harness.evaluate`. The protocol (models, preprocessing, reference
choice, prompt handling) and the output schemas are in ``docs/evaluation.md``.

Modules: ``dreambench`` (reader), ``plan`` (jobs and shards), ``runner`` (generation, reuse),
``distributed`` (accelerate processes), ``metric_set`` (metric columns), ``scoring``,
``aggregate``, ``tables`` (csv / json / md), ``plot`` (fidelity_vs_text.png), ``report_html``.
Nothing here imports torch at import time.
"""
