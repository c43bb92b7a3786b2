"""The baselines the edge is compared with, and how the harness runs servers.

- `bare_asgi.py`: a bare ASGI app under granian answering a precomputed 302 (the ceiling of
  the edge's own stack);
- `nginx.conf.template`: nginx `return 302` (the ceiling for an HTTP redirect on the box);
- `flask_celery.py`: Flask under gunicorn calling a Celery task `.delay()` per request with a
  Redis broker (what teams build today);
- `launch.py`: their command lines; `servers.py`: starting, pinning and stopping servers.

Nothing is imported here, so the apps load without the harness's dependencies.
"""
