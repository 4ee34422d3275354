"""Prometheus metrics of one service instance (its own registry, so several apps can coexist)."""

from __future__ import annotations

from typing import Any

from fairframe._deps import require

__all__ = ["Metrics"]


class Metrics:
    """Counters and histograms served at ``/metrics``.

    ``fairframe_guard_requests_total{route,status}``, ``fairframe_guard_request_seconds{route}``,
    ``fairframe_guard_decisions_total{action}``, ``fairframe_guard_check_seconds``,
    ``fairframe_guard_stage_seconds{stage}``, ``fairframe_guard_failed_closed_total`` and
    ``fairframe_guard_batch_size`` (prompts per guard call when micro-batching is on).
    """

    def __init__(self) -> None:
        pc = require("prometheus_client", extra="service", purpose="service metrics")
        self.registry = pc.CollectorRegistry()
        r = self.registry
        fast = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
        self.requests = pc.Counter("fairframe_guard_requests", "HTTP requests",
                                   ["route", "status"], registry=r)
        self.latency = pc.Histogram("fairframe_guard_request_seconds", "HTTP request time",
                                    ["route"], buckets=fast, registry=r)
        self.decisions = pc.Counter("fairframe_guard_decisions", "Guard decisions by action",
                                    ["action"], registry=r)
        self.check_seconds = pc.Histogram("fairframe_guard_check_seconds",
                                          "Prompt check time (all stages)", buckets=fast,
                                          registry=r)
        self.stage_seconds = pc.Histogram("fairframe_guard_stage_seconds", "Time per stage",
                                          ["stage"], buckets=fast, registry=r)
        self.failed_closed = pc.Counter("fairframe_guard_failed_closed",
                                        "Requests refused because a required stage failed",
                                        registry=r)
        self.batch_size = pc.Histogram("fairframe_guard_batch_size",
                                       "Prompts per guard call (micro-batching)",
                                       buckets=(1, 2, 4, 8, 16, 32, 64, 128), registry=r)
        self._pc: Any = pc

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        body: bytes = self._pc.generate_latest(self.registry)
        content_type: str = self._pc.CONTENT_TYPE_LATEST
        return body, content_type
