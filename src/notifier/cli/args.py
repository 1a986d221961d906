"""Argument types the commands share; errors name the expected form, never echo secrets."""

from __future__ import annotations

import argparse
import uuid

MAX_HOURS = 24 * 31


def identifier(text: str) -> uuid.UUID:
    """A row id (UUID)."""
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError("give a UUID, e.g. 0f8b6c1e-…") from None


def hours(text: str) -> float:
    """A span in hours, more than 0 and at most a month."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("give a number of hours, e.g. 48") from None
    if not 0 < value <= MAX_HOURS:
        raise argparse.ArgumentTypeError(f"give more than 0 and at most {MAX_HOURS} hours")
    return value
