"""create_app(settings): wiring only. Routers, error handlers, middleware, lifespan."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import swagger_ui
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse, Response

from patron import __version__, errors, openapi
from patron.accounts import DefaultCountries
from patron.auth.routes import router as token_router
from patron.auth.tokens import SigningKeys, VerifiedTokens
from patron.config import Settings
from patron.customers.routes import router as customers_router
from patron.db import Database
from patron.errors import NotFound
from patron.idempotency import IdempotencyMiddleware
from patron.observability import Metrics, ObservabilityMiddleware, configure_logging
from patron.orders.routes import router as orders_router

_SWAGGER_STATIC = os.path.join(os.path.dirname(swagger_ui.__file__), "static")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.db = Database(settings)
        # Each argon2id check of a client secret holds 64 MiB while it runs: a flood of token
        # requests (random client_ids escape the per-client lockout) queues here instead.
        app.state.secret_checks = anyio.CapacityLimiter(2)
        try:
            yield
        finally:
            await app.state.db.dispose()

    app = FastAPI(
        title="Patron CRM API",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.keys = SigningKeys()
    app.state.verified_tokens = VerifiedTokens()
    app.state.default_countries = DefaultCountries()
    metrics = Metrics()

    errors.install(app)
    openapi.install(app)
    app.include_router(token_router)
    app.include_router(customers_router)
    app.include_router(orders_router)
    app.mount("/docs/static", StaticFiles(directory=_SWAGGER_STATIC), name="docs-static")

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Patron CRM API",
            swagger_js_url="/docs/static/swagger-ui-bundle.js",
            swagger_css_url="/docs/static/swagger-ui.css",
            swagger_favicon_url="/docs/static/favicon-32x32.png",
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint(request: Request) -> Response:
        if not settings.metrics:
            raise NotFound()
        body = metrics.render(request.app.state.db.pool)
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(
        ObservabilityMiddleware,
        metrics=metrics,
        access_log_enabled=settings.access_log,
        routes=[*customers_router.routes, *orders_router.routes],
    )
    return app
