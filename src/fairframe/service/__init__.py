"""The guard's HTTP service (FastAPI): ``fairframe guard serve --config FILE``.

Not imported by ``import fairframe``; needs the ``service`` extra
(``pip install "fairframe[service]"``)::

    from fairframe.guard.config import load_guard_config
    from fairframe.service import create_app

    app = create_app(load_guard_config("guard.toml"))   # any ASGI server runs it

Endpoints, authentication, limits and errors are documented in ``docs/guard.md`` and in the
OpenAPI spec the service serves at ``/openapi.json``.
"""

from __future__ import annotations

from fairframe.service.app import create_app, serve

__all__ = ["create_app", "serve"]
