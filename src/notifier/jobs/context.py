"""What arq hands every job function, typed (arq itself types it ``dict[str, Any]``).

``services`` and ``runtime`` are ours: ``notifier worker`` (or the startup hook of
``arq notifier.worker.WorkerSettings``) puts them in; ``redis``, ``job_id`` and ``job_try`` are
arq's. Reading a key that is not there fails type-checking only if it is misspelled, which is
the point.
"""

from __future__ import annotations

from typing import Any, TypedDict

from arq.connections import ArqRedis

from notifier.app import Services


class JobContext(TypedDict, total=False):
    services: Services
    # ``notifier.runtime.Runtime``: the process layer sits above the jobs (its health server
    # reads the job lanes), and only ``notifier.worker`` puts it in and takes it out.
    runtime: Any
    redis: ArqRedis
    job_id: str
    job_try: int
