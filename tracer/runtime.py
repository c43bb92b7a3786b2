"""Process-wide tuning of the role that handles events in bulk: the batcher.

CPython collects its youngest generation after every 700 net allocations of container
objects. A batcher decodes thousands of events per batch and holds them until the store
has acknowledged the batch: each batch sets off dozens of collections that free nothing
and walk the whole batch again each time. (Measured: the cyclic collector was half the
cost of decoding an event.) Events hold no reference cycles; what a batch allocates is
freed by reference counting the moment the batch is done.

The edge and the dispatcher hold few objects at a time; with the same tuning neither
answered measurably faster (`bench.edge`, `bench.dispatcher --compare`), so they keep
CPython's defaults.
"""

from __future__ import annotations

import gc

# Container allocations between collections of the youngest generation.
YOUNGEST_THRESHOLD = 20_000
# Youngest-generation collections per middle one, middle per oldest (CPython: 10, 10).
OLDER_THRESHOLDS = (50, 100)


def tune_garbage_collector() -> None:
    """Call once start-up is done: what it loaded (modules, brands, key ring) is moved out
    of the collector's sight for good, and collections come less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNGEST_THRESHOLD, *OLDER_THRESHOLDS)
