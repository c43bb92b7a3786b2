"""Tracer's benchmarks (`just bench` runs `python -m bench`).

- `bench.edge`: wrk against `tracer edge` next to its baselines from the same run (a bare
  granian ASGI app, nginx `return 302`, Flask + gunicorn + Celery), as one table.
- `bench.batcher`, `bench.dispatcher`, `bench.rewrite`: the other stages, when present.

Methodology and how to read the figures: docs/benchmarks.md. Figures: bench/RESULTS.md.
"""
