"""What teams build today: a Flask view that hands the click to Celery with `.delay()` (Redis
broker) and redirects. Served by gunicorn with one worker:

    BENCH_BROKER_URL=redis://127.0.0.1:6379/0 \
        gunicorn --workers 1 --worker-class sync bench.baselines.flask_celery:app

The view does less than a real one (no token decoding, no bot classification), so this
baseline is, if anything, flattered. No Celery worker consumes the queue during the run:
the edge's events are not consumed either (no batcher runs), so both sides are measured as
producers only, and the harness counts the messages left in the broker's `celery` list.
"""

from __future__ import annotations

import os
import time

from celery import Celery
from flask import Flask, Response, redirect, request

DESTINATION = (
    "https://northjobs.example/jobs/48213-senior-welder-duluth-mn"
    "?utm_source=northjobs&utm_medium=email&utm_campaign=daily-alert&tclid=bench"
)

celery = Celery("tracking", broker=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/0"))
celery.conf.update(task_ignore_result=True, broker_connection_retry_on_startup=True)
app = Flask(__name__)


@celery.task(name="tracking.record_event")
def record_event(kind: str, token: str, host: str, user_agent: str, ip: str, ts: float) -> None:
    """Would store the event; never runs during the benchmark (no worker)."""


@app.get("/c/<token>")
def click(token: str) -> Response:
    record_event.delay("click", token, request.host, _user_agent(), _client_ip(), time.time())
    return redirect(DESTINATION, code=302)


def _user_agent() -> str:
    return request.headers.get("User-Agent", "")


def _client_ip() -> str:
    forwarded = request.headers.get("X-Forwarded-For", "")
    return forwarded.split(",")[0].strip() or (request.remote_addr or "")
