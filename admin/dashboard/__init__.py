"""The live operations dashboard on the admin port (`/`): the edge's throughput and
latency, the queues, the batchers and dispatchers, webhook health per endpoint, live
workers, and engagement per brand, campaign and job source. See docs/dashboard.md.

    app = web.Application(middlewares=[..., dashboard_auth, auth_middleware(...)])
    add_dashboard(app, context)
"""

from admin.dashboard.gate import dashboard_auth
from admin.dashboard.routes import add_dashboard

__all__ = ["add_dashboard", "dashboard_auth"]
