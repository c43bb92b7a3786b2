"""What the edge's metrics snapshot files share with their readers (the edge's own
/metrics and the admin dashboard): the bounds of the request-duration histogram.

Each edge worker writes `<data dir>/metrics/edge-<pid>.json` once a second with its
counters; `latency[route]` holds one count per bucket below, plus one for +Inf.
"""

# Upper bounds of the request-duration histogram, in seconds.
LATENCY_BUCKETS = (
    0.000025,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.1,
)
