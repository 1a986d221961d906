"""What arq hands every job function, typed (arq itself types it ``dict[str, Any]``).

``services`` and ``runtime`` are ours: ``notifier worker`` (or the startup hook of
``arq notifier.worker.WorkerSettings``) puts them in; ``redis``, ``job_id`` and ``job_try`` are
arq's. Reading a key that is not there fails type-checking only if it is misspelled, which is
the point.
"""

from __future__ import annotations

from typing import TypedDict

from arq.connections import ArqRedis

from notifier.app import Services
from notifier.runtime import Runtime


class JobContext(TypedDict, total=False):
    services: Services
    runtime: Runtime
    redis: ArqRedis
    job_id: str
    job_try: int
