"""Request ids, JSON access logs and Prometheus metrics, as one pure ASGI middleware.

Logs name the request, client, account, route, status and duration; never a token, secret or email."""

from __future__ import annotations

import logging
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from patron.errors import internal_error_response

access_log = logging.getLogger("patron.access")
log = logging.getLogger("patron")

_REQUEST_ID_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")
# Metric labels take known methods only, so odd request lines cannot grow the label set.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class JsonFormatter(logging.Formatter):
    _skip = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in self._skip})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("patron")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "patron_requests", "HTTP requests answered", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "patron_request_duration_seconds",
            "Time to answer a request",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.pool_in_use = Gauge("patron_db_pool_checked_out", "Database connections in use", registry=self.registry)
        self.pool_size = Gauge("patron_db_pool_size", "Database connections held by the pool", registry=self.registry)

    def render(self, pool: Any) -> bytes:
        for gauge, name in ((self.pool_in_use, "checkedout"), (self.pool_size, "size")):
            value = getattr(pool, name, None)
            if callable(value):
                gauge.set(value())
        return generate_latest(self.registry)


def _route(scope: Scope, routes: Sequence[BaseRoute]) -> tuple[str, dict[str, Any]]:
    """The route template and path parameters, also for answers given before routing (replays)."""
    route = scope.get("route")
    if route is not None:
        return getattr(route, "path", "unmatched"), scope.get("path_params", {})
    for candidate in routes:
        match, child = candidate.matches(scope)
        if match == Match.FULL:
            return getattr(candidate, "path", "unmatched"), child.get("path_params", {})
    return "unmatched", {}


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if 0 < len(text) <= 200 and set(text) <= _REQUEST_ID_OK:
                return text
            break
    return uuid.uuid4().hex


class ObservabilityMiddleware:
    def __init__(
        self, app: ASGIApp, *, metrics: Metrics, access_log_enabled: bool, routes: Sequence[BaseRoute] = ()
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log_enabled = access_log_enabled
        # Answers given before routing (idempotent replays) are named by matching these.
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        header = (b"x-request-id", request_id.encode())
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = [
                    *(h for h in message.get("headers", []) if h[0].lower() != b"x-request-id"),
                    header,
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            # The client hung up while sending its body: nobody to answer, nothing was written.
            status = 499
        except Exception:
            log.exception("unhandled error", extra={"request_id": request_id})
            if response_started:
                raise
            status = 500
            await internal_error_response(request_id)(scope, receive, send_with_id)
        finally:
            template, path_params = _route(scope, self.routes)
            elapsed = time.perf_counter() - started
            method = scope["method"] if scope["method"] in _METHODS else "other"
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(template).observe(elapsed)
            if self.access_log_enabled:
                state = scope.get("state", {})
                principal = state.get("principal")
                access_log.info(
                    "request",
                    extra={
                        "request_id": request_id,
                        "method": scope["method"],
                        "route": template,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "client_id": getattr(principal, "client_id", None),
                        "account_id": path_params.get("accountId"),
                    },
                )
