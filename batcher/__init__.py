"""The batcher stage: Redis event queue -> event store (+ rollups, suppressions) ->
webhook queue. Run it with `tracer batcher`; see docs/batcher.md."""

from batcher.config import BatcherConfig
from batcher.worker import Batcher, BatcherStats, BatchReport

__all__ = ["BatchReport", "Batcher", "BatcherConfig", "BatcherStats"]
