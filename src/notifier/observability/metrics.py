"""Prometheus metrics on a registry of our own, created at startup (never at import)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


@dataclass
class Metrics:
    """Every metric the worker exports; passed around inside ``Services``."""

    registry: CollectorRegistry
    notifications: Counter
    tick_seconds: Histogram
    last_success: Gauge
    smtp_seconds: Histogram
    queue_depth: Gauge

    def render(self) -> bytes:
        """The text exposition format for ``GET /metrics``."""
        return generate_latest(self.registry)


def make_metrics() -> Metrics:
    registry = CollectorRegistry(auto_describe=True)
    return Metrics(
        registry=registry,
        notifications=Counter(
            "notifier_notifications",
            "Notification slots by kind and outcome.",
            ["kind", "outcome"],
            registry=registry,
        ),
        tick_seconds=Histogram(
            "notifier_tick_duration_seconds",
            "Wall time of one job tick.",
            ["job"],
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300),
            registry=registry,
        ),
        last_success=Gauge(
            "notifier_job_last_success_timestamp_seconds",
            "Unix time at which the job last finished a tick successfully.",
            ["job"],
            registry=registry,
        ),
        smtp_seconds=Histogram(
            "notifier_smtp_send_duration_seconds",
            "SMTP time per message, retries included.",
            buckets=(0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30),
            registry=registry,
        ),
        queue_depth=Gauge(
            "notifier_queue_depth", "Jobs waiting in the arq queue.", registry=registry
        ),
    )
