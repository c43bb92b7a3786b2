"""The admin API's aiohttp application.

    app = create_app(load_context())

Redis and the store are connected when the application starts and closed when it stops;
neither has to be up for it to start (requests that need one answer 503 meanwhile).
"""

from __future__ import annotations

import logging

from aiohttp import web

from admin.auth import KeyIndex, auth_middleware
from admin.dashboard import add_dashboard, dashboard_auth
from admin.middleware import access_log, json_errors
from admin.routes import add_routes
from admin.services import services_context
from tracer.context import Context
from tracer.demo_keys import DEV_MODE_HINT
from tracer.errors import ConfigurationError

logger = logging.getLogger(__name__)

# Room for 10,000 links or a large email; a bigger body gets 413.
MAX_BODY_BYTES = 16 * 1024 * 1024


def create_app(context: Context) -> web.Application:
    """The admin API for `context` (settings, brands, key ring). Needs REDIS_URL: the API
    queues its events and stores short links there."""
    if not context.settings.redis_url:
        raise ConfigurationError(
            "REDIS_URL: not set; the admin API queues events and short links in Redis "
            "(`tracer up` starts a private redis-server and sets it)"
        )
    keys = KeyIndex(context.brands, dev_mode=context.settings.dev_mode)
    if keys.refused_demo_brands:
        # Said at every start, loudly: these brands cannot use the API until they get keys.
        logger.error(
            "API keys of %d brand(s) are published demo keys and refused (%s): %s",
            len(keys.refused_demo_brands),
            ", ".join(keys.refused_demo_brands),
            DEV_MODE_HINT,
        )
    elif context.settings.dev_mode:
        logger.warning(
            "Development mode (TRACER_DEV_MODE): the published demo API keys are accepted; "
            "never run a deployment like this."
        )
    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        # Outermost first: the access log sees the final status, errors become JSON, and
        # authentication runs before any handler reads a body (the dashboard's routes
        # check the admin token instead of brand keys).
        middlewares=[
            access_log,
            json_errors,
            dashboard_auth,
            auth_middleware(keys),
        ],
    )
    app.cleanup_ctx.append(services_context(context))
    add_routes(app)
    # The live dashboard at `/` (after the services: it reads through them).
    add_dashboard(app, context)
    return app
