"""A host's ``CONTENT_DECODER`` for the tests: base64 behind a prefix, and two values it refuses.

Every text value the tests seed is written ``encode(...)``, so an email that shows ``b64:``
names a column the worker forgot to decode. ``REFUSED`` makes the decoder raise with the
value in the exception's message (which must never reach ``last_error`` or a log);
``NOT_TEXT`` makes it answer a number.
"""

from __future__ import annotations

import base64

PREFIX = "b64:"
REFUSED = "b64:!refuse-Vantablack-Quimby!"
NOT_TEXT = "b64:!number-Ossifrage!"


def encode(text: str) -> str:
    """What the host stores for ``text``."""
    return PREFIX + base64.b64encode(text.encode("utf-8")).decode("ascii")


def decode(table: str, column: str, value: str) -> object:
    """``CONTENT_DECODER=tests.support.content_decoder:decode``."""
    if value == REFUSED:
        raise ValueError(f"cannot decode {table}.{column} value {value!r}")
    if value == NOT_TEXT:
        return 42
    if not value.startswith(PREFIX):
        return value
    return base64.b64decode(value.removeprefix(PREFIX), validate=True).decode("utf-8")
