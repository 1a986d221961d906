"""Prometheus metrics on a registry of our own, created at startup (never at import).

Per-job series use the label ``job_name``, not ``job``: Prometheus attaches its own ``job``
label to every scraped series and would rename ours to ``exported_job``.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


@dataclass
class Metrics:
    """Every metric the worker exports; passed around inside ``Services``."""

    registry: CollectorRegistry
    notifications: Counter
    tick_seconds: Histogram
    ticks: Counter
    last_success: Gauge
    job_interval: Gauge
    smtp_seconds: Histogram
    queue_depth: Gauge
    lane_depth: Gauge
    catch_up_sends: Counter
    missed_window: Counter
    cleanup_rows: Counter

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
            ["job_name"],
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300),
            registry=registry,
        ),
        ticks=Counter(
            "notifier_ticks",
            "Job ticks run by this process, by job and final status (succeeded, failed).",
            ["job_name", "status"],
            registry=registry,
        ),
        last_success=Gauge(
            "notifier_job_last_success_timestamp_seconds",
            "Unix time at which the job last finished a tick successfully in this process.",
            ["job_name"],
            registry=registry,
        ),
        job_interval=Gauge(
            "notifier_job_interval_seconds",
            "Seconds between two scheduled ticks of each enabled job (from its cron schedule).",
            ["job_name"],
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
        lane_depth=Gauge(
            "notifier_lane_depth",
            "Batches in each priority lane (1 most urgent), waiting or leased to a worker.",
            ["lane", "state"],
            registry=registry,
        ),
        catch_up_sends=Counter(
            "notifier_catch_up_sends",
            "Emails sent later than CATCH_UP_SEND_AFTER_SECONDS after they were due, by kind.",
            ["kind"],
            registry=registry,
        ),
        missed_window=Counter(
            "notifier_missed_window_drops",
            "Slots given up unsent because their sending window had passed, by kind.",
            ["kind"],
            registry=registry,
        ),
        cleanup_rows=Counter(
            "notifier_cleanup_rows",
            "Rows the cleanup job deleted or expired, by table and action.",
            ["table", "action"],
            registry=registry,
        ),
    )
