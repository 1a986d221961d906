"""``CONTENT_DECODER`` (contract section 12): the host's callable for values it encrypts itself.

A host that encrypts a column in its application (a client's name under AES-GCM, say) stores
text that no SQL can read. It names a callable, ``package.module:function``, loaded once when
the process opens its services; the worker calls it as ``function(table, column, value)`` for
every text value of section 1 that it puts into content, and uses the result instead.

Decoding happens where a row's values become content facts, inside the per-row guard
(``Plan.row``, or the local-time kinds' ``build_and_offer``), so every channel shows the
decoded value and a value that fails to decode costs that notification alone: the slot is
``failed`` with a reason naming the table and column and the exception's type, never the value
nor the exception's message (which may quote it). Without a decoder the facts pass through
untouched, at no cost.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol, Self

if TYPE_CHECKING:
    from notifier.content.appointment_reminder import AppointmentFacts
    from notifier.content.summary import AppointmentLine, TaskLine
    from notifier.content.task_notification import TaskFacts

HostFunction = Callable[[str, str, str], object]

# The section 1 columns whose text reaches content, as (table, column).
USER_NAME = ("users", "full_name")
CLIENT_NAME = ("clients", "full_name")
LOCATION = ("appointments", "location")
SERVICE_NAME = ("appointments", "service_name")
TASK_TITLE = ("tasks", "title")
TASK_DESCRIPTION = ("tasks", "description")
TASK_PRIORITY = ("tasks", "priority")


class DecoderLoadError(Exception):
    """``CONTENT_DECODER`` names nothing callable; the message says why without quoting any
    value the host's module may hold (its import-time exception is named by type alone)."""


class UndecodableError(ValueError):
    """One value the host's callable refused: raised, or answered something other than text.

    Its message is the slot's ``last_error``: the table, the column and the cause's type.
    """

    def __init__(self, table: str, column: str, cause: str) -> None:
        super().__init__(f"could not decode {table}.{column}: {cause}")


@dataclass(frozen=True)
class Decoder:
    """The host's callable, or none (values are used as stored)."""

    function: HostFunction | None = None
    spec: str | None = None

    @property
    def active(self) -> bool:
        return self.function is not None

    def text(self, source: tuple[str, str], value: str | None) -> str | None:
        """``value`` of ``table.column`` decoded; None stays None (nothing to show)."""
        if value is None or self.function is None:
            return value
        table, column = source
        try:
            result = self.function(table, column, value)
        except Exception as exc:
            # ``from None``: the cause's message may quote the value; its type is enough.
            raise UndecodableError(table, column, type(exc).__name__) from None
        if not isinstance(result, str):
            raise UndecodableError(table, column, f"the decoder returned {type(result).__name__}")
        return result

    def user_name(self, value: str | None) -> str | None:
        return self.text(USER_NAME, value)

    def appointment(self, facts: AppointmentFacts) -> AppointmentFacts:
        """An appointment reminder's names and places, decoded."""
        if not self.active:
            return facts
        return replace(
            facts,
            client_name=self.text(CLIENT_NAME, facts.client_name),
            service_name=self.text(SERVICE_NAME, facts.service_name),
            location=self.text(LOCATION, facts.location),
            user_name=self.user_name(facts.user_name),
        )

    def task(self, facts: TaskFacts) -> TaskFacts:
        """A task notification's title, description, priority and user name, decoded."""
        if not self.active:
            return facts
        return replace(
            facts,
            title=self.text(TASK_TITLE, facts.title),
            description=self.text(TASK_DESCRIPTION, facts.description),
            priority=self.text(TASK_PRIORITY, facts.priority),
            user_name=self.user_name(facts.user_name),
        )

    def appointment_lines(self, lines: Sequence[AppointmentLine]) -> Sequence[AppointmentLine]:
        """A summary's appointments (digest, weekly report), decoded."""
        if not self.active:
            return lines
        return [
            replace(
                line,
                client_name=self.text(CLIENT_NAME, line.client_name),
                service_name=self.text(SERVICE_NAME, line.service_name),
                location=self.text(LOCATION, line.location),
            )
            for line in lines
        ]

    def task_lines(self, lines: Sequence[TaskLine]) -> Sequence[TaskLine]:
        """A summary's tasks, decoded."""
        if not self.active:
            return lines
        return [
            replace(
                line,
                title=self.text(TASK_TITLE, line.title),
                priority=self.text(TASK_PRIORITY, line.priority),
            )
            for line in lines
        ]


IDENTITY = Decoder()


class Decodable(Protocol):
    """Facts of a summary email that know which of their values to decode."""

    def decoded(self, decoder: Decoder) -> Self: ...


def load_decoder(spec: str | None) -> Decoder:
    """The callable ``package.module:function`` names, imported now (once per process);
    ``IDENTITY`` when unset. Raises ``DecoderLoadError`` with a message fit for an operator."""
    if not spec:
        return IDENTITY
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise DecoderLoadError(f"CONTENT_DECODER {spec!r} is not package.module:function")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        raise DecoderLoadError(
            f"CONTENT_DECODER {spec!r}: module {missing!r} cannot be found"
        ) from None
    except Exception as exc:
        raise DecoderLoadError(
            f"CONTENT_DECODER {spec!r}: importing {module_name!r} raised {type(exc).__name__}"
        ) from None
    function = getattr(module, attribute, None)
    if function is None:
        raise DecoderLoadError(f"CONTENT_DECODER {spec!r}: {module_name!r} has no {attribute!r}")
    if not callable(function):
        raise DecoderLoadError(f"CONTENT_DECODER {spec!r}: {attribute!r} is not callable")
    return Decoder(function, spec)
