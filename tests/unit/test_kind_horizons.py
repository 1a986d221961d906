"""The per-kind horizons cleanup relies on match what each kind's ticks really select."""

from __future__ import annotations

from datetime import timedelta

from notifier.rules import kind_horizons as kh
from notifier.rules import kinds
from notifier.rules.kinds import JOB_KINDS
from notifier.services import task_reminders

CATCH_UP = timedelta(minutes=60)


def test_the_task_reminder_scan_reaches_as_far_as_cleanup_keeps_its_rows() -> None:
    """The service's candidate scan and cleanup's reselect horizon read one declaration."""
    horizon = kh.kind_horizons(CATCH_UP)["task_reminder"]
    assert horizon.reselect == kinds.TASK_REMINDER_LATENESS + kinds.TASK_REMINDER_LATE_RECORD
    assert horizon.last_chance == task_reminders.KIND.window.at(CATCH_UP)  # type: ignore[union-attr]


def test_every_sending_kind_has_a_horizon() -> None:
    kinds = {kind for kind in JOB_KINDS.values() if kind}
    assert kinds <= set(kh.kind_horizons(CATCH_UP))


def test_windowed_kinds_keep_their_rows_at_least_a_window_past_the_slot() -> None:
    horizons = kh.kind_horizons(CATCH_UP)
    for kind in ("appointment_reminder", "daily_digest", "notes_reminder"):
        assert horizons[kind].reselect >= CATCH_UP
        assert horizons[kind].last_chance >= CATCH_UP
    # A local date's slot is its 00:00 UTC; its wall times fall up to ~38 h later.
    assert horizons["daily_digest"].reselect >= timedelta(hours=38) + CATCH_UP


def test_an_unknown_kind_gets_the_widest_horizon() -> None:
    fallback = kh.fallback_horizon(CATCH_UP)
    for horizon in kh.kind_horizons(CATCH_UP).values():
        assert fallback.reselect >= horizon.reselect
        assert fallback.last_chance >= horizon.last_chance
