"""Operability: JSON-line logs with masked ID numbers, per-request log lines, Prometheus metrics.

Every service (a node, the hub) gets its own ``CollectorRegistry``: the embedded demo runs 41
nodes in one process and each node's ``/metrics`` must show that node's numbers only.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tongban.domain.directory import Directory
from tongban.domain.identifiers import mask_id_number
from tongban.service_layer.node import NodeService
from tongban.service_layer.views import RecoveryReport

log = logging.getLogger("tongban.observability")
request_log = logging.getLogger("tongban.http")

# --- logs ---------------------------------------------------------------------------------

# 17 ASCII digits and a digit or X, not part of a longer word: what a resident ID number
# looks like. Lookarounds, not \b: Chinese characters count as word characters for \b.
_ID_LIKE = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")
_HANDLER_NAME = "tongban"
# Attributes every LogRecord has; anything else on a record came in through ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


def mask_ids(text: str) -> str:
    """Every ID-number-shaped token masked (DESIGN.md §5: first 6 and last 4 shown)."""
    return _ID_LIKE.sub(lambda m: mask_id_number(m.group(0)), text)


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_ids(value)
    if isinstance(value, Mapping):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_masked(v) for v in value]
    return value


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class MaskIdNumbers(logging.Filter):
    """Masks ID numbers in the message, its args and the extra fields, before any formatting."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # bad args: leave the record for logging's own error report
            return True
        record.msg, record.args = mask_ids(message), None  # args are merged in, then masked
        for key, value in _extras(record).items():
            setattr(record, key, _masked(value))
        if record.exc_text:
            record.exc_text = mask_ids(record.exc_text)
        return True


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line: ts (ISO-8601 UTC), level, logger, msg, then the extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            **_extras(record),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # Masked again as a whole: a traceback can quote an ID number (e.g. SQL parameters).
        return mask_ids(json.dumps(entry, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    """For people at a terminal: ``time LEVEL logger: msg key=value ...``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = " ".join(f"{k}={v}" for k, v in _extras(record).items() if v is not None)
        return mask_ids(f"{line} {fields}" if fields else line)


def configure_logging(
    level: str = "INFO", json_lines: bool = True, stream: TextIO | None = None
) -> logging.Handler:
    """Send all logs to ``stream`` (stderr) as JSON lines or text, ID numbers masked.

    Calling it again replaces the handler it installed before; returns the new handler.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonLinesFormatter() if json_lines else TextFormatter())
    handler.addFilter(MaskIdNumbers())  # on the handler: root's own filters skip child loggers
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs every node-to-node call at INFO; the receiving node's request log covers it.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler


# --- metrics ------------------------------------------------------------------------------

# 1 ms (a cached read) to 5 s (a settlement waiting on a slow home region).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Message kinds nodes and the hub answer; anything else (unverified input) is counted as
# "other" so a forged envelope cannot add label values without limit.
KNOWN_KINDS = frozenset(
    {"person", "quote", "commit", "cancel", "resolve", "status"}
    | {"directory.get", "locator.register", "locator.lookup"}
)
SETTLEMENT_STATUSES = {
    "settle": ("SETTLED", "UNKNOWN", "PENDING", "REFUSED", "VOIDED", "CANCELLED"),
    "cancel": ("CANCELLED", "CANCELLING"),
}
RECOVERY_RESULTS = ("settled", "voided", "refused", "cancelled", "still_unknown")


class Metrics:
    """What every service counts: request latency, problem answers, signed messages handled."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "tongban_http_request_duration_seconds",
            "HTTP request latency, by route template and method",
            ["region", "method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.refusals = Counter(
            "tongban_refusals",
            "problem+json answers, by stable problem code",
            ["region", "code"],
            registry=self.registry,
        )
        self.exchange = Counter(
            "tongban_exchange_messages",
            "Signed messages handled (home side: commit, cancel, resolve, ...), by outcome",
            ["region", "kind", "outcome"],
            registry=self.registry,
        )

    def refusal(self, code: str) -> None:
        self.refusals.labels(self.region, code).inc()

    def render(self, accept: str) -> Response:
        encode, content_type = choose_encoder(accept)
        return Response(encode(self.registry), media_type=content_type)


class NodeMetrics(Metrics):
    """A node's metrics: the common ones plus settlement outcomes, recovery, unresolved."""

    def __init__(self, region: str, unresolved: Callable[[], int] | None = None) -> None:
        super().__init__(region)
        self.settlements = Counter(
            "tongban_settlements",
            "Settle and cancel answers, by the settlement's resulting status",
            ["region", "operation", "status"],
            registry=self.registry,
        )
        self.national = Counter(
            "tongban_national_transactions",
            "National-interface envelopes answered, by infno and result (OK or the refusal code)",
            ["region", "infno", "code"],
            registry=self.registry,
        )
        self.recovered = Counter(
            "tongban_recovered_settlements",
            "Unresolved settlements taken up by recovery, by result",
            ["region", "result"],
            registry=self.registry,
        )
        # Zero series up front, so rate() and alerts see a 0 rather than nothing.
        for operation, statuses in SETTLEMENT_STATUSES.items():
            for status in statuses:
                self.settlements.labels(region, operation, status)
        for result in RECOVERY_RESULTS:
            self.recovered.labels(region, result)
        if unresolved is not None:
            self.registry.register(_UnresolvedCollector(region, unresolved))

    def settlement(self, operation: str, status: str) -> None:
        self.settlements.labels(self.region, operation, status).inc()

    def national_answer(self, infno: str, code: str) -> None:
        self.national.labels(self.region, infno, code).inc()


class _UnresolvedCollector:
    """Settlements PENDING, UNKNOWN or CANCELLING, read from the database at scrape time."""

    def __init__(self, region: str, count: Callable[[], int]) -> None:
        self._region = region
        self._count = count

    def collect(self) -> Iterable[Metric]:
        gauge = GaugeMetricFamily(
            "tongban_settlements_unresolved",
            "Settlements not yet resolved with their home region (PENDING/UNKNOWN/CANCELLING)",
            labels=["region"],
        )
        try:
            value = float(self._count())
        except Exception:  # a scrape must not fail with the database: NaN says "unknown"
            log.warning("could not count unresolved settlements", exc_info=True)
            value = math.nan
        gauge.add_metric([self._region], value)
        yield gauge


def node_metrics(service: NodeService) -> NodeMetrics:
    def unresolved() -> int:
        with service.store.read() as tx:
            return len(tx.unresolved_settlements(None))

    return NodeMetrics(service.region, unresolved)


def observe_recovery(metrics: NodeMetrics, report: RecoveryReport) -> None:
    """Count (and log) what one recovery run did."""
    counts = {result: len(getattr(report, result)) for result in RECOVERY_RESULTS}
    for result, n in counts.items():
        if n:
            metrics.recovered.labels(metrics.region, result).inc(n)
    if any(counts.values()):
        log.info("recovery", extra={"region": metrics.region, **counts})


def count_exchange(metrics: Metrics, handler: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    """Wrap a signed-exchange handler to count messages by kind and outcome.

    The kind is read from the envelope before it is verified: it is only a label.
    """

    def counted(payload: bytes) -> bytes:
        answer = handler(payload)
        metrics.exchange.labels(metrics.region, _kind(payload), _outcome(answer)).inc()
        return answer

    return counted


def _kind(payload: bytes) -> str:
    try:
        kind = json.loads(payload).get("kind")
    except (ValueError, AttributeError):
        return "other"
    return kind if isinstance(kind, str) and kind in KNOWN_KINDS else "other"  # any JSON


def _outcome(answer: bytes) -> str:
    """``ok``, or the code of the refusal the (own, signed) answer carries."""
    try:
        body = json.loads(answer)["body"]
        return "ok" if body["ok"] else str(body["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "unreadable"


def stored_directory_version(raw: str | None) -> int | None:
    """The version of a stored signed directory (``meta["directory"]``), for health answers."""
    return int(json.loads(raw)["directory"]["version"]) if raw else None


def directory_health(raw: str | None, now: datetime) -> dict[str, object]:
    """A node's directory for its health answer: version, expiry, and ``current``, ``grace``
    (expired, still used while the hub is away) or ``expired`` (other nodes are refused)."""
    if not raw:
        return {"directory": "none", "directory_version": None}
    directory = Directory.from_json(json.loads(raw)["directory"])
    state = (
        "current"
        if not directory.is_expired(now)
        else "grace"
        if directory.is_usable(now)
        else "expired"
    )
    return {
        "directory": state,
        "directory_version": directory.version,
        "directory_expires_at": directory.expires_at.isoformat(),
    }


# --- requests -----------------------------------------------------------------------------

_QUIET_ROUTES = frozenset({"/metrics", "/v1/health"})  # scraped every few seconds: DEBUG


class RequestObserver:
    """ASGI middleware: one log line and one latency observation per HTTP request.

    It logs the route template, never the raw path (ids, query strings with ID numbers) and
    never a body. Handlers leave ``institution`` and ``problem_code`` in ``request.state``.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        outer_route = scope.get("route")  # a mounting app's Mount, when embedded
        status = 500

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        failed = True
        try:
            await self.app(scope, receive, send_observed)
            failed = False
        finally:
            route = scope.get("route")
            template = getattr(route, "path_format", None) if route is not outer_route else None
            self._observe(scope, template or "unmatched", status, started, failed)

    def _observe(self, scope: Scope, route: str, status: int, started: float, failed: bool) -> None:
        elapsed = time.perf_counter() - started
        method = str(scope.get("method", ""))
        self.metrics.latency.labels(self.metrics.region, method, route).observe(elapsed)
        state = scope.get("state") or {}
        code = "INTERNAL" if failed else state.get("problem_code")
        level = logging.DEBUG if route in _QUIET_ROUTES and not code else logging.INFO
        if not request_log.isEnabledFor(level):
            return
        fields = {
            "method": method,
            "route": route,
            "status": 500 if failed else status,
            "duration_ms": round(elapsed * 1000, 2),
            "region": self.metrics.region,
            "institution": state.get("institution"),
            "code": code,
        }
        request_log.log(level, "request", extra={k: v for k, v in fields.items() if v is not None})


def instrument(app: FastAPI, metrics: Metrics) -> None:
    """Install the request observer and ``GET /metrics`` on a node's or the hub's app."""
    app.state.metrics = metrics  # problems.py counts refusals here when it is present
    app.add_middleware(RequestObserver, metrics=metrics)

    @app.get("/metrics", tags=["operations"], response_class=Response)
    def prometheus_metrics(request: Request) -> Response:
        """Prometheus metrics of this service only (text format, or OpenMetrics on request)."""
        return metrics.render(request.headers.get("accept", ""))
