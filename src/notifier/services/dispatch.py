"""The pipeline every kind shares: record outcomes, claim, render, send, mark.

A kind's service decides *what* is due (pure rules over fresh rows) and hands this module
``Delivery`` items; from here on every kind is treated alike, so the never-twice and
never-lost rules live in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import exc as sa_exc

from notifier.app import Services
from notifier.channels.base import Channel, Delivery, Rendered, SelfRecording
from notifier.db.engine import autocommit
from notifier.delivery import ledger
from notifier.delivery.lane_gate import lane_gate
from notifier.delivery.ledger import Outcome, SlotKey
from notifier.delivery.rate_limit import relay_limiter
from notifier.delivery.retry import send_with_retry
from notifier.delivery.smtp import SendError
from notifier.rules.kinds import KIND_LANES
from notifier.services.counts import TickCounts
from notifier.services.row_errors import row_error

log = structlog.get_logger("notifier.dispatch")
# The suffix of every reason for a slot given up because its sending window passed; such
# outcomes count in ``notifier_missed_window_drops_total`` whoever records them.
WINDOW_PASSED = "window passed"
# The reason of a send handed back because its claim's lease was running out.
LEASE_RAN_OUT = "claim lease running out"
# Of a claim's lease, the end kept for recording ``sent`` (a quarter of it, at most this).
MARK_RESERVE_SECONDS = 30.0
MARK_RETRY_FIRST_SECONDS = 0.05
MARK_RETRY_MAX_SECONDS = 2.0
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


@dataclass(frozen=True)
class TickTime:
    """Maps the tick's instant onto the monotonic clock, so retry budgets hold in replays.

    ``notifier run --at`` may run a tick for an instant long past; what a slot has left is
    ``expires_at - tick instant``, consumed by the real time that passes while sending.
    """

    instant: datetime
    started: float

    def remaining(self, expires_at: datetime) -> float:
        return (expires_at - self.instant).total_seconds() - (time.monotonic() - self.started)

    def current(self) -> datetime:
        """Now on the tick's timeline: its instant plus the real time spent since it began."""
        return self.instant + timedelta(seconds=time.monotonic() - self.started)


def missed_window(reason: str | None) -> bool:
    """Whether a recorded reason says the slot was given up because its window passed."""
    return bool(reason) and str(reason).endswith(WINDOW_PASSED)


def loggable(reason: str | None) -> str | None:
    """A reason fit for the logs: quoted values (a bad zone name, say) are data, so they go."""
    return _QUOTED.sub("<value>", reason) if reason else reason


async def dispatch(
    services: Services,
    deliveries: Sequence[Delivery],
    outcomes: Sequence[Outcome],
    *,
    now: datetime | None = None,
) -> TickCounts:
    """Sends what this caller manages to claim; returns the counts.

    ``now`` is the tick's instant (defaults to the services' clock).
    """
    counts = TickCounts(selected=len(deliveries) + len(outcomes))
    tick = TickTime(now or services.clock(), time.monotonic())
    deliveries, outcomes = await _record_unclaimed(services, deliveries, outcomes, counts, tick)
    wall = services.clock()
    lease = timedelta(seconds=services.settings.claim_lease_seconds)
    claimed_at = time.monotonic()  # before the claim: the lease as seen here ends no later
    async with services.engine.begin() as conn:
        await ledger.record(conn, outcomes, wall)
        claimed = await ledger.claim(conn, [d.key for d in deliveries], wall, lease)
    _count_outcomes(services, counts, outcomes)
    counts.already_done += len(deliveries) - len(claimed)
    mine = [d for d in deliveries if d.key in claimed]
    silent = [d for d in mine if _recorded_only(services, d)]
    sent_out = [d for d in mine if not _recorded_only(services, d)]
    sending = Sending(services, tick, claimed, claimed_at, lease.total_seconds())
    try:
        # Every send runs to its end even when another fails: a message the server accepted
        # is recorded ``sent`` whatever happens to the rest of the batch.
        recorded, sent = await asyncio.gather(
            _deliver_recorded(services, silent, sending),
            _deliver_each(services, sent_out, sending),
            return_exceptions=True,
        )
    except asyncio.CancelledError:
        # A send under way may have reached the server: its claim keeps its lease.
        await _release(services, [d for d in mine if d.key not in sending.started])
        raise
    results = [*_each(recorded, len(silent)), *_each(sent, len(sent_out))]
    _count_results(services, counts, [*silent, *sent_out], results)
    return counts


async def _deliver_each(
    services: Services, deliveries: Sequence[Delivery], sending: Sending
) -> list[str | BaseException]:
    """Each slot sent on its own (email, webhook), concurrently, every one to its end."""
    _limit_relay_rate(services)
    return await asyncio.gather(
        *(_deliver(services, d, sending) for d in deliveries), return_exceptions=True
    )


def _limit_relay_rate(services: Services) -> None:
    """Gives the SMTP pool its ``SMTP_RATE_LIMIT`` limiter the first time it is needed (the
    pool lives as long as the services, and closes it)."""
    if services.smtp.limiter is None and services.settings.smtp_rate_limit is not None:
        services.smtp.limiter = relay_limiter(services.settings)


def _each(
    result: Sequence[str | BaseException] | BaseException, count: int
) -> list[str | BaseException]:
    """A group's per-slot results, or its one exception for each of its slots."""
    return [result] * count if isinstance(result, BaseException) else list(result)


async def _record_unclaimed(
    services: Services,
    deliveries: Sequence[Delivery],
    outcomes: Sequence[Outcome],
    counts: TickCounts,
    tick: TickTime,
) -> tuple[list[Delivery], list[Outcome]]:
    """Delivers the slots of self-recording channels (in-app on PostgreSQL) without a claim:
    one statement per channel records them ``sent`` with their rows. Returns what is left
    for the claim: every other delivery, those slots already in the ledger, and each group a
    row's data broke (tried again slot by slot); a template error is an outcome, ``failed``."""
    left, more = list(outcomes), []
    capable = {n for n, channel in services.channels.items() if isinstance(channel, SelfRecording)}
    groups: dict[str, list[Delivery]] = {}
    for delivery in deliveries:
        if delivery.key.channel in capable:
            groups.setdefault(delivery.key.channel, []).append(delivery)
        else:
            more.append(delivery)
    for name, group in groups.items():
        rendered, failed = _render_all(services.channels[name], group)
        left += failed
        recorded = await _record_group(services, name, rendered)
        sent_by_kind: Counter[str] = Counter()
        for item in rendered:
            if item.delivery.key in recorded:
                sent_by_kind[item.delivery.key.kind] += 1
                _count_lateness(services, item.delivery, tick)
            else:
                more.append(item.delivery)
        for kind, sent in sent_by_kind.items():
            counts.sent += sent
            services.metrics.notifications.labels(kind, "sent").inc(sent)
    return more, left


def _render_all(
    channel: Channel, group: Sequence[Delivery]
) -> tuple[list[Rendered], list[Outcome]]:
    """Each delivery rendered (a self-recording channel's record names its rows itself: no
    ident); a template error is that slot's ``failed`` outcome."""
    rendered, failed = [], []
    for delivery in group:
        try:
            rendered.append(Rendered(delivery, "", channel.render(delivery, "")))
        except Exception as exc:
            reason = f"template error: {type(exc).__name__}"
            failed.append(Outcome(delivery.key, "failed", reason))
    return rendered, failed


async def _record_group(
    services: Services, name: str, rendered: Sequence[Rendered]
) -> set[SlotKey]:
    """The group's slots recorded ``sent`` with their rows and ``after_sent`` steps, in one
    transaction; none when the database cannot, or one row broke it (the slot-by-slot path
    then records that row alone)."""
    channel = services.channels[name]
    assert isinstance(channel, SelfRecording)
    try:
        async with services.engine.begin() as conn:
            recorded = await channel.record_unclaimed(conn, rendered, services.clock())
            for item in rendered:
                step = item.delivery.after_sent
                if recorded and step is not None and item.delivery.key in recorded:
                    await step(conn)
    except Exception as exc:
        if database_unavailable(exc):
            raise
        log.warning(
            "group_record_failed", channel=name, count=len(rendered), error=type(exc).__name__
        )
        return set()
    return recorded or set()


def _recorded_only(services: Services, delivery: Delivery) -> bool:
    """Whether the delivery *is* its recorded row (in-app): nothing goes out to wait for."""
    channel = services.channels.get(delivery.key.channel)
    return channel is not None and channel.in_transaction


async def _deliver_recorded(
    services: Services, deliveries: Sequence[Delivery], sending: Sending
) -> list[str]:
    """Channels whose delivery is the row written with the ``sent`` mark (in-app): every
    slot rendered, then one transaction for all of them, with no coroutine, send slot or
    future per slot (those cost half of an in-app delivery's time). A row whose content or
    record fails costs that slot alone, as on every channel."""
    statuses: dict[SlotKey, str] = {}
    group: list[_Waiting] = []
    for delivery in deliveries:
        channel = services.channels[delivery.key.channel]
        ident = channel.ident(delivery.key)
        try:
            rendered = Rendered(delivery, ident, channel.render(delivery, ident))
        except Exception as exc:
            reason = f"template error: {type(exc).__name__}"
            statuses[delivery.key] = await _finish(services, delivery.key, "failed", reason, 0)
            continue
        sending.started.add(delivery.key)
        mark = ledger.SentMark(delivery.key, sending.rows[delivery.key], ident, 1)
        group.append(_Waiting(mark, rendered, None))
    for item, error in zip(group, await sending.marks.commit_group(group), strict=True):
        statuses[item.mark.key] = await _settled_status(services, item, error, sending.tick)
    return [statuses[d.key] for d in deliveries]


async def _settled_status(
    services: Services, item: _Waiting, error: Exception | None, tick: TickTime
) -> str:
    if error is None:
        _count_lateness(services, item.delivery, tick)
        return "sent"
    if database_unavailable(error):
        raise error
    return await _finish(services, item.mark.key, "failed", row_error(error), 0)


def _count_results(
    services: Services,
    counts: TickCounts,
    mine: Sequence[Delivery],
    results: Sequence[str | BaseException],
) -> None:
    """Adds each send's outcome; then re-raises what only the infrastructure can cause.

    ``_deliver`` turns every fault of a row into that row's ``failed``; what still arrives
    here is the database gone past the claims' lease, which fails the tick (``job_runs``).
    """
    for delivery, status in zip(mine, results, strict=True):
        if isinstance(status, str):
            setattr(counts, status, getattr(counts, status) + 1)
            services.metrics.notifications.labels(delivery.key.kind, status).inc()
    for error in results:
        if isinstance(error, BaseException):
            raise error


class Sending:
    """What the sends of one claim share: the tick's clock, the group commit, the lease.

    A claim is only safe while its lease holds: past ``lease_end`` another tick may take the
    slot over and send it too. So no SMTP attempt starts or runs after ``attempts_until``,
    which keeps the rest of the lease (a quarter, at most ``MARK_RESERVE_SECONDS``) for
    recording ``sent``; a send that could not finish in time is handed back to the next tick.
    """

    def __init__(
        self,
        services: Services,
        tick: TickTime,
        rows: ledger.Claimed,
        claimed_at: float,
        lease: float,
    ) -> None:
        self.tick = tick
        self.rows = rows  # each claimed slot's row id, which its ``sent`` mark names
        lease_end = claimed_at + lease
        self.attempts_until = lease_end - min(lease / 4, MARK_RESERVE_SECONDS)
        self.marks = SentMarks(services, lease_end)
        self.started: set[SlotKey] = set()


async def _release(services: Services, deliveries: Sequence[Delivery]) -> None:
    """A cancelled tick (worker stopping) hands its unsent claims back at once."""
    async with services.engine.begin() as conn:
        await ledger.release(conn, [d.key for d in deliveries])
    log.info("claims_released", count=len(deliveries))


def _count_outcomes(services: Services, counts: TickCounts, outcomes: Sequence[Outcome]) -> None:
    for outcome in outcomes:
        status = "held" if outcome.held_until is not None else outcome.status
        services.metrics.notifications.labels(outcome.key.kind, status).inc()
        if missed_window(outcome.reason):
            services.metrics.missed_window.labels(outcome.key.kind).inc()
        if outcome.held_until is not None:
            counts.held += 1
        elif outcome.status == "failed":
            counts.failed += 1
            log.warning(
                "slot_failed",
                kind=outcome.key.kind,
                entity_id=str(outcome.key.entity_id),
                user_id=str(outcome.key.user_id),
                channel=outcome.key.channel,
                reason=loggable(outcome.reason),
            )
        else:
            counts.skipped += 1


async def _deliver(services: Services, delivery: Delivery, sending: Sending) -> str:
    """Renders and sends one claimed slot; returns the TickCounts field to bump.

    The message is rendered only once a send slot is free, so a process holds the bytes of at
    most ``SEND_WINDOW`` messages, however many batches it runs: rendering a whole batch up
    front raised a worker's RSS to each new peak of concurrent batches, and kept it there.
    """
    key = delivery.key
    channel = services.channels.get(key.channel)
    if channel is None:  # planning refuses such slots; a configuration changed meanwhile
        return await _finish(services, key, "failed", f"channel {key.channel} is not set up", 0)
    ident = channel.ident(key)
    # Held until `sent` is recorded, so a crash leaves at most SEND_WINDOW accepted-but-
    # unrecorded messages per process: the duplicate bound stated in runbook.md. A channel
    # whose delivery *is* the recorded row (in-app) cannot deliver twice and sends nothing
    # out: it skips the gate, so its marks commit in groups as large as its batch. Slots go
    # to the most urgent lane first (``delivery.lane_gate``).
    gate = (
        contextlib.nullcontext()
        if channel.in_transaction
        else lane_gate(services.send_gate).slot(KIND_LANES.get(key.kind, 2))
    )
    async with gate:
        try:
            rendered = Rendered(delivery, ident, channel.render(delivery, ident))
        except Exception as exc:  # one record's bad data must not cost the tick
            error = f"template error: {type(exc).__name__}"
        else:
            try:
                return await _send_claimed(services, channel, rendered, sending)
            except Exception as exc:
                if database_unavailable(exc):
                    raise
                # Not sent, or sent and not recordable: final either way, never sent twice.
                error = row_error(exc)
    return await _finish(services, key, "failed", error, 0)


async def _send_claimed(
    services: Services, channel: Channel, rendered: Rendered, sending: Sending
) -> str:
    """Sends one rendered delivery and records the outcome; the caller holds a send slot."""
    delivery = rendered.delivery
    key, tick = delivery.key, sending.tick
    sending.started.add(key)
    try:
        attempts = (
            1 if channel.in_transaction else await _send(services, channel, rendered, sending)
        )
    except SendError as err:
        final = err.permanent or tick.remaining(delivery.expires_at) <= 0
        reason = err.reason if err.permanent or not final else f"{err.reason}; {WINDOW_PASSED}"
        if missed_window(reason):
            services.metrics.missed_window.labels(key.kind).inc()
        return await _finish(services, key, "failed" if final else "pending", reason, err.attempts)
    mark = ledger.SentMark(key, sending.rows[key], rendered.ident, attempts)
    await sending.marks.record(mark, rendered)
    _count_lateness(services, delivery, tick)
    return "sent"


def _count_lateness(services: Services, delivery: Delivery, tick: TickTime) -> None:
    """A send well after its due instant is a catch-up: a worker was down or ticks ran late."""
    if delivery.due_at is None:
        return
    late = tick.current() - delivery.due_at
    if late > timedelta(seconds=services.settings.catch_up_send_after_seconds):
        services.metrics.catch_up_sends.labels(delivery.key.kind).inc()


async def _send(services: Services, channel: Channel, rendered: Rendered, sending: Sending) -> int:
    """The channel's transmission with retries, never past the slot's expiry nor the claim's
    lease; returns the attempts used."""
    settings, delivery = services.settings, rendered.delivery
    started = time.monotonic()
    until = sending.attempts_until

    async def attempt() -> None:
        left = until - time.monotonic()
        if left <= 0:
            raise SendError(LEASE_RAN_OUT, permanent=False)
        try:
            async with asyncio.timeout(left):
                await channel.transmit(delivery, rendered)
        except TimeoutError:
            raise SendError(LEASE_RAN_OUT, permanent=False) from None

    try:
        return await send_with_retry(
            attempt,
            max_attempts=settings.smtp_max_attempts,
            base_delay=settings.smtp_retry_base_seconds,
            deadline=min(started + sending.tick.remaining(delivery.expires_at), until),
        )
    finally:
        services.metrics.smtp_seconds.observe(time.monotonic() - started)


@dataclass(frozen=True)
class _Waiting:
    mark: ledger.SentMark
    rendered: Rendered
    done: asyncio.Future[None] | None  # None: the caller reads the group's result itself

    @property
    def delivery(self) -> Delivery:
        return self.rendered.delivery


class SentMarks:
    """Group commit of ``sent`` marks: one transaction records every send accepted meanwhile.

    A transaction per email capped a worker near 4,000 marks/s of PostgreSQL time and cost
    more Python than the send. Here the first accepted send starts a flush; sends accepted
    while it runs wait for the next one, so groups grow with load and cost nothing when idle.
    ``record`` returns only once its mark is committed, and the caller holds its send slot
    (``Services.send_gate``) until then: a kill -9 duplicates at most ``SEND_WINDOW`` slots
    per process. The window is wider than the connection pool so that the connections keep
    sending while earlier sends wait for their group's commit.

    A commit that fails for want of the database (a restart, a dropped connection) is tried
    again until the claims' lease ends: the messages were accepted, and a mark left undone
    would let another tick send them again once the lease runs out.
    """

    def __init__(self, services: Services, lease_end: float) -> None:
        self._services = services
        self._lease_end = lease_end
        self._waiting: list[_Waiting] = []
        self._flusher: asyncio.Task[None] | None = None

    async def record(self, mark: ledger.SentMark, rendered: Rendered) -> None:
        """Queues the mark and waits until it is committed; raises if the commit failed."""
        done = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(mark, rendered, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            for item, error in zip(group, await self.commit_group(group), strict=True):
                _settle([item], error)

    async def commit_group(self, group: Sequence[_Waiting]) -> list[Exception | None]:
        """Commits the group's marks now; each item's error, None where it is committed.

        When one row's ``after_sent`` step (or in-app row) breaks the group's transaction,
        the others were delivered all the same, so each is recorded on its own.
        """
        if not group:
            return []
        error = await self._commit(group)
        if error is None or database_unavailable(error):
            return [error] * len(group)
        return [await self._commit_alone(item) for item in group]

    async def _commit_alone(self, item: _Waiting) -> Exception | None:
        """One mark with its step; if the step itself fails, the mark alone, with the reason.

        The message went out: ``sent`` is what keeps it from going out again.
        """
        error = await self._commit([item])
        if error is None or database_unavailable(error):
            return error
        if self._services.channels[item.mark.key.channel].in_transaction:
            return error  # the delivery itself failed (an in-app row): not sent
        key = item.mark.key
        log.error(
            "after_sent_failed",
            kind=key.kind,
            entity_id=str(key.entity_id),
            user_id=str(key.user_id),
            channel=key.channel,
            error=type(error).__name__,
        )
        try:
            async with self._services.engine.begin() as conn:
                await ledger.mark_sent_many(conn, [item.mark], self._services.clock())
                await ledger.note_error(conn, key, f"after sending: {row_error(error)}")
        except Exception as exc:
            return exc
        return None

    async def _commit(self, group: Sequence[_Waiting]) -> Exception | None:
        """Marks the group; returns the error that made it give up, if any."""
        delay = MARK_RETRY_FIRST_SECONDS
        while True:
            try:
                await _mark_sent(self._services, group)
                return None
            except Exception as exc:
                if not database_unavailable(exc) or time.monotonic() + delay > self._lease_end:
                    return exc
                log.warning("sent_marks_retry", count=len(group), error=type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MARK_RETRY_MAX_SECONDS)


def database_unavailable(exc: BaseException) -> bool:
    """A failure of the connection, not of the statement: the same commit may succeed later."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OSError | sa_exc.OperationalError | sa_exc.InterfaceError)


def _settle(group: Sequence[_Waiting], error: Exception | None) -> None:
    for item in group:
        if item.done is None or item.done.done():
            continue
        if error is None:
            item.done.set_result(None)
        else:
            item.done.set_exception(error)


async def _mark_sent(services: Services, group: Sequence[_Waiting]) -> None:
    """Marks a group ``sent`` and runs their ``after_sent`` steps, in one transaction."""
    now = services.clock()
    if _mark_alone(services, group):
        async with autocommit(services.engine) as conn:
            await ledger.mark_sent_many(conn, [item.mark for item in group], now)
        return
    async with services.engine.begin() as conn:
        await ledger.mark_sent_many(conn, [item.mark for item in group], now)
        for item in group:
            if item.delivery.after_sent is not None:
                await item.delivery.after_sent(conn)
        for name, channel in services.channels.items():
            sent = [item.rendered for item in group if item.mark.key.channel == name]
            if sent:
                await channel.record(conn, sent, now)


def _mark_alone(services: Services, group: Sequence[_Waiting]) -> bool:
    """Whether the group's commit is its one ``sent`` statement (PostgreSQL, no ``after_sent``
    step, no channel that writes its rows with the mark): then it runs without BEGIN and
    COMMIT, a third of the round trips of a group of emails (each one a backend's work)."""
    if services.engine.dialect.name != "postgresql":
        return False
    channels = services.channels
    return not any(
        item.delivery.after_sent is not None or channels[item.mark.key.channel].in_transaction
        for item in group
    )


async def _finish(services: Services, key: SlotKey, status: str, reason: str, attempts: int) -> str:
    """Records a send that did not happen; ``pending`` releases the claim for a later tick."""
    async with services.engine.begin() as conn:
        await ledger.mark_unsent(conn, key, status=status, reason=reason, attempts=attempts)
    log.warning(
        "send_not_done",
        kind=key.kind,
        entity_id=str(key.entity_id),
        user_id=str(key.user_id),
        channel=key.channel,
        status=status,
        reason=reason,
        attempts=attempts,
    )
    return "failed" if status == "failed" else "deferred"
