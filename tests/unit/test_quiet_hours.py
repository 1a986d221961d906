"""The quiet-hours rule (contract section 10), over examples and every zone."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, tzinfo
from functools import cache
from itertools import pairwise
from zoneinfo import available_timezones

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from notifier.rules.kinds import BY_NAME
from notifier.rules.quiet_hours import QuietHours, due_in, held_into, quiet_until
from notifier.rules.recipient import SEND, Hold, RecipientState, decide
from notifier.timemath.windows import Window, catch_up_window, unseen_before
from notifier.timemath.zones import get_zone

BERLIN = get_zone("Europe/Berlin")
NEW_YORK = get_zone("America/New_York")
NIGHT = QuietHours(time(21, 0), time(7, 0))
ZONES = sorted(available_timezones())
HOUR = timedelta(hours=1)
WINDOW = timedelta(minutes=60)
KIND = BY_NAME["appointment_reminder"]


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_a_period_across_midnight_holds_until_its_end_the_next_morning() -> None:
    # Berlin in January is UTC+1: 21:00 local is 20:00 UTC, 07:00 local is 06:00 UTC.
    assert quiet_until(utc(2026, 1, 5, 19, 59), BERLIN, NIGHT) is None
    assert quiet_until(utc(2026, 1, 5, 20, 0), BERLIN, NIGHT) == utc(2026, 1, 6, 6, 0)
    assert quiet_until(utc(2026, 1, 6, 5, 59), BERLIN, NIGHT) == utc(2026, 1, 6, 6, 0)
    assert quiet_until(utc(2026, 1, 6, 6, 0), BERLIN, NIGHT) is None  # the end is not quiet


def test_no_period_without_both_ends_or_with_equal_ends() -> None:
    assert QuietHours.of(time(21, 0), None) is None
    assert QuietHours.of(None, time(7, 0)) is None
    assert QuietHours.of(time(7, 0), time(7, 0)) is None
    assert quiet_until(utc(2026, 1, 5, 22, 0), BERLIN, None) is None


def test_an_end_in_the_spring_forward_gap_moves_forward_by_the_gap() -> None:
    # New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT; 02:30 is sent as 03:30 EDT (07:30 UTC).
    quiet = QuietHours(time(1, 0), time(2, 30))
    assert quiet_until(utc(2026, 3, 8, 7, 10), NEW_YORK, quiet) == utc(2026, 3, 8, 7, 30)
    assert quiet_until(utc(2026, 3, 8, 7, 30), NEW_YORK, quiet) is None


def test_an_end_in_the_fall_back_fold_counts_at_its_first_occurrence() -> None:
    # New York, 2026-11-01: 01:30 EDT (05:30 UTC) comes first, 01:30 EST (06:30 UTC) again.
    quiet = QuietHours(time(0, 30), time(1, 30))
    assert quiet_until(utc(2026, 11, 1, 5, 0), NEW_YORK, quiet) == utc(2026, 11, 1, 5, 30)
    assert quiet_until(utc(2026, 11, 1, 6, 0), NEW_YORK, quiet) is None  # 01:00 EST, again


def test_a_skipped_local_date_starts_no_period_and_breaks_nothing() -> None:
    apia = get_zone("Pacific/Apia")  # 2011-12-30 does not exist there
    quiet = QuietHours(time(12, 0), time(13, 0))
    for hour in range(0, 72):
        quiet_until(utc(2011, 12, 29, 0, 0) + hour * HOUR, apia, quiet)


def _wall(at: datetime, zone: tzinfo) -> time:
    local = at.astimezone(zone)
    return time(local.hour, local.minute, local.second, local.microsecond)


def _inside(wall: time, quiet: QuietHours) -> bool:
    if quiet.crosses_midnight:
        return wall >= quiet.start or wall < quiet.end
    return quiet.start <= wall < quiet.end


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(ZONES),
    st.datetimes(datetime(2000, 1, 1), datetime(2037, 12, 31)),
    st.times(),
    st.times(),
)
def test_quiet_exactly_while_the_local_time_is_in_the_period_and_held_to_its_end(
    zone_name: str, naive: datetime, start: time, end: time
) -> None:
    """Away from an offset change the rule is the wall clock's: quiet while the local time is
    in ``[start, end)`` (across midnight too), held until the local ``end``; always, a held
    instant ends later, within a day and an hour, and its end is not quiet itself."""
    quiet = QuietHours.of(start, end)
    if quiet is None:
        return
    zone = get_zone(zone_name)
    at = naive.replace(tzinfo=UTC)
    until = quiet_until(at, zone, quiet)
    if until is not None:
        assert at < until <= at + 25 * HOUR
        assert quiet_until(until, zone, quiet) is None
    steady = {(at + k * HOUR).astimezone(zone).utcoffset() for k in range(-26, 27)}
    if len(steady) != 1:
        return  # a DST change or a zone's rule change nearby: the examples above cover those
    assert (until is not None) == _inside(_wall(at, zone), quiet)
    if until is not None:
        assert _wall(until, zone) == quiet.end


@cache
def _offset_changes(zone_name: str) -> tuple[datetime, ...]:
    """The zone's UTC offset changes in 2026 (to the hour), or its 1 January when none."""
    zone = get_zone(zone_name)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    hours = [start + k * HOUR for k in range(366 * 24)]
    found = tuple(
        b
        for a, b in pairwise(hours)
        if a.astimezone(zone).utcoffset() != b.astimezone(zone).utcoffset()
    )
    return found or (start,)


@st.composite
def _near_an_offset_change(draw: st.DrawFn) -> tuple[str, datetime]:
    """A zone and an instant within a day and a half of one of its 2026 offset changes."""
    zone_name = draw(st.sampled_from(ZONES))
    change = draw(st.sampled_from(_offset_changes(zone_name)))
    seconds = draw(st.integers(-36 * 3600, 36 * 3600))
    return zone_name, change + timedelta(seconds=seconds)


def _ticks(first: datetime, every: timedelta, hours: int) -> list[datetime]:
    """A job's ticks on its grid (multiples of ``every`` since the epoch) from ``first`` on."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    start = epoch + -((epoch - first) // every) * every
    return [start + k * every for k in range(int(hours * HOUR / every))]


def _simulate(
    state: RecipientState,
    channel: str,
    due: datetime,
    ticks: list[datetime],
    deadline: datetime | None,
) -> list[datetime]:
    """Every tick as the windowed kinds run it (``due_in`` over the ledger's hold, then the
    policy at the instant of sending); the instants it sent at."""
    held: datetime | None = None
    sent: list[datetime] = []
    for now in ticks:
        if sent or due_in(catch_up_window(now, WINDOW), due, held) is None:
            continue
        decision = decide(state, KIND, channel, now, deadline)
        if isinstance(decision, Hold):
            held = decision.until
        elif decision == SEND:
            sent.append(now)
    return sent


def _free_between(quiet: QuietHours) -> timedelta:
    """The wall-clock time between one period's end and the next one's start."""
    day = datetime(2000, 1, 1)
    gap = datetime.combine(day, quiet.start) - datetime.combine(day, quiet.end)
    return gap % timedelta(days=1)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    _near_an_offset_change(),
    st.times(),
    st.times(),
    st.sampled_from(["email", "webhook", "in_app"]),
    st.sampled_from([timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15)]),
    st.none() | st.integers(1, 30 * 3600),
)
def test_held_notifications_go_once_after_the_period_and_never_inside_it(
    zone_and_due: tuple[str, datetime],
    start: time,
    end: time,
    channel: str,
    every: timedelta,
    deadline_after: int | None,
) -> None:
    """Over every zone's DST days: each notification goes exactly once; on email and webhook
    never inside a quiet period, at the first tick from its due instant or, when that tick is
    quiet, the first from the period's end; an appointment the hold would reach goes at once;
    in-app at once.

    Only where some tick can fall between two periods: a user whose periods leave less time
    between them than the job's tick interval (00:32-00:31 with ticks every 5 minutes), an
    hour more on a DST day, is held at every tick (quiet hours win; README says so)."""
    zone_name, due = zone_and_due
    quiet = QuietHours.of(
        start.replace(second=0, microsecond=0), end.replace(second=0, microsecond=0)
    )
    assume(quiet is None or _free_between(quiet) >= every + HOUR)
    zone = get_zone(zone_name)
    state = RecipientState(True, True, True, quiet, zone)
    deadline = None if deadline_after is None else due + timedelta(seconds=deadline_after)
    ticks = _ticks(due, every, 50)
    sent = _simulate(state, channel, due, ticks, deadline)
    assert len(sent) == 1
    first = ticks[0]
    until = quiet_until(first, zone, quiet)
    if channel == "in_app" or until is None or (deadline is not None and until >= deadline):
        assert sent == [first]
        return
    assert quiet_until(sent[0], zone, quiet) is None or (
        deadline is not None and sent[0] < deadline
    )
    after_end = next(t for t in ticks if t >= until)
    if quiet_until(after_end, zone, quiet) is None:
        assert sent == [after_end]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    _near_an_offset_change(),
    st.times(),
    st.times(),
    st.integers(1, 36 * 60),
)
def test_after_an_outage_the_first_tick_owes_what_a_period_held_into_its_window(
    zone_and_due: tuple[str, datetime], start: time, end: time, back_after: int
) -> None:
    """No tick ran between a slot's due instant and ``back_after`` minutes later. The first
    tick back owes it exactly when a quiet period held the slot and the period's end lies in
    that tick's window (contract section 10: the end is its due instant); it is due then."""
    zone_name, due = zone_and_due
    quiet = QuietHours.of(
        start.replace(second=0, microsecond=0), end.replace(second=0, microsecond=0)
    )
    zone = get_zone(zone_name)
    back = due + timedelta(minutes=back_after)
    window = catch_up_window(back, WINDOW)
    assume(due not in window)
    found = held_into(window, {"slot": due}, zone, quiet)
    until = quiet_until(due, zone, quiet)
    if until is not None and back - WINDOW < until <= back:
        assert found == {"slot": until}
    else:
        assert found == {}


def test_a_tick_looks_back_only_over_what_no_tick_before_it_looked_at() -> None:
    window = catch_up_window(utc(2026, 3, 10, 14, 0), WINDOW)
    day = timedelta(days=1)
    whole = Window(window.start - day, window.start)
    assert unseen_before(window, None, day) == whole  # the kind's first tick
    assert unseen_before(window, utc(2026, 3, 10, 13, 59), day) is None  # ticks in a row
    assert unseen_before(window, window.start, day) is None
    assert unseen_before(window, utc(2026, 3, 10, 11, 0), day) == Window(
        utc(2026, 3, 10, 11, 0), window.start
    )
    assert unseen_before(window, utc(2026, 3, 5, 0, 0), day) == whole  # capped at a day
    # A tick behind a later one (cron ticks overlap) trusts it; far behind (run --at) does not.
    assert unseen_before(window, utc(2026, 3, 10, 14, 30), day) is None
    assert unseen_before(window, utc(2026, 3, 11, 9, 0), day) == whole
