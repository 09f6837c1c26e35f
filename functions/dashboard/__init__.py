"""The operator dashboard: a Starlette sub-app (``app.dashboard_app``) mounted at
``/dashboard`` by ``functions.http``.

Server-rendered pages (Jinja2) whose live parts poll small JSON endpoints every 2 s; CSS and
JS are served from ``static/`` (no CDN: the dashboard works on an air-gapped network). It
has its own session (kept in Redis, ``session``), so the API's routes stay stateless.
"""
