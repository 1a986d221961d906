"""The HTTP server inside the worker process: ``GET /health`` and ``GET /metrics``."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.health.evaluate import LaneDepths, health_body
from notifier.health.probe import (
    QUEUE_KEY,
    cron_interval,
    database_ok,
    job_facts,
    lane_depths,
    redis_depth,
)
from notifier.observability.metrics import Metrics
from notifier.timemath.tz_database import TzDatabase, current_tz_database


@dataclass
class HealthContext:
    """What the handlers read; built in the worker's startup."""

    engine: AsyncEngine
    redis: Redis
    metrics: Metrics
    schedules: dict[str, str]
    clock: Callable[[], datetime]
    started: datetime
    mode: str = "production"
    # Read when the context is built, after the command chose the database (TZ_DATABASE).
    tz_database: TzDatabase = field(default_factory=current_tz_database)
    # The arq queue whose depth, and whose lanes' depths, are reported.
    queue: str = QUEUE_KEY


CONTEXT = web.AppKey("context", HealthContext)


async def _health(request: web.Request) -> web.Response:
    ctx: HealthContext = request.app[CONTEXT]
    now = ctx.clock()
    depth = await redis_depth(ctx.redis, ctx.queue)
    lanes = await lane_depths(ctx.redis, ctx.queue) if depth is not None else None
    db_ok = await database_ok(ctx.engine)
    jobs = await job_facts(ctx.engine, ctx.schedules, now) if db_ok else []
    healthy, body = health_body(
        redis_ok=depth is not None,
        database_ok=db_ok,
        jobs=jobs,
        queue_depth=depth,
        now=now,
        worker_started=ctx.started,
        mode=ctx.mode,
        tz_database=ctx.tz_database.as_json(),
        lane_depth=lanes,
    )
    return web.Response(
        status=200 if healthy else 503, text=json.dumps(body), content_type="application/json"
    )


async def _metrics(request: web.Request) -> web.Response:
    ctx: HealthContext = request.app[CONTEXT]
    depth = await redis_depth(ctx.redis, ctx.queue)
    if depth is not None:
        ctx.metrics.queue_depth.set(depth)
        _export_lanes(ctx.metrics, await lane_depths(ctx.redis, ctx.queue))
    return web.Response(body=ctx.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def _export_lanes(metrics: Metrics, depths: LaneDepths | None) -> None:
    """Each lane's waiting and leased batches; left as last read when Redis stops answering,
    as ``notifier_queue_depth`` is."""
    for lane, (waiting, leased) in (depths or {}).items():
        metrics.lane_depth.labels(str(lane), "waiting").set(waiting)
        metrics.lane_depth.labels(str(lane), "leased").set(leased)


def _export_intervals(ctx: HealthContext) -> None:
    """Each enabled job's interval as a gauge, so alert rules can say "three intervals"."""
    now = ctx.clock()
    for job, expression in ctx.schedules.items():
        ctx.metrics.job_interval.labels(job).set(cron_interval(expression, now).total_seconds())


async def start_health_server(ctx: HealthContext, host: str, port: int) -> web.AppRunner:
    """Starts serving; the caller keeps the runner and calls ``cleanup()`` at shutdown."""
    _export_intervals(ctx)
    app = web.Application()
    app[CONTEXT] = ctx
    app.router.add_get("/health", _health)
    app.router.add_get("/metrics", _metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
