"""The reason recorded for a row that could not be planned or sent: its words, never its data."""

from __future__ import annotations

from notifier.content.decoding import UndecodableError
from notifier.content.mime import BadAddressError
from notifier.rules.appointment_reminders import BadOffsetsError
from notifier.rules.recurrence import BadRecurrenceError
from notifier.timemath.zones import OutOfCalendarError, UnknownZoneError

# Our own refusals: their words name the fault and never quote the data.
_DESCRIBED = (
    BadAddressError,
    UnknownZoneError,
    BadOffsetsError,
    BadRecurrenceError,
    OutOfCalendarError,
    UndecodableError,  # names the table and column, and the cause by its type alone
)


def row_error(exc: BaseException) -> str:
    """``last_error`` for one row's exception.

    Any exception but our own refusals is named by its class alone: its message may quote the
    row's data, and ``last_error`` and the logs hold ids and reasons, never content.
    """
    if isinstance(exc, _DESCRIBED):
        return str(exc)
    return f"unexpected error: {type(exc).__name__}"
