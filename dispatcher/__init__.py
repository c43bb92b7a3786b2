"""The dispatcher stage: webhook jobs from Redis to the brands' endpoints, signed the
Standard Webhooks way, retried with back-off, circuit-broken, dead-lettered, never lost.

Modules, one job each:
  service       the `Dispatcher`: taking jobs, handing them to endpoints, two-stage shutdown
  queue         reliable consumption in Redis: processing lists, heartbeats, adoption
  endpoint      one endpoint: connection pool, concurrency limit, breaker, one request
  delivery      one HTTP attempt and its disposition
  settle        what follows a disposition: ack, retry, divert, dead-letter
  recorder      ordered, retried writes of outcomes to Redis
  signing       Standard Webhooks signatures
  payload       JSON bodies (one event, or a batch)
  batching      per-endpoint batches
  backoff       retry delays (full jitter) and Retry-After
  breaker       the circuit breaker
  ssrf          the connect-time guard against private targets
  dead_letters  dead-letter lists and fallback streams
  state         endpoint state shared through Redis
  metrics       counters and the Prometheus text
  options       tuning knobs from TRACER_* variables
"""

from dispatcher.options import DispatcherOptions, load_options
from dispatcher.service import Dispatcher

__all__ = ["Dispatcher", "DispatcherOptions", "load_options"]
