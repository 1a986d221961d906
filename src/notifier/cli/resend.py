"""``notifier resend KIND --entity ID --user ID --slot ISO [--channel C]``: send one recorded
slot again now, even past its window, after the same checks of the current state as any
send, with the same ``Message-ID`` / ``webhook-id`` (contract section 11).

Prints the slot's row as JSON (with ``resent`` and ``reason``) on stdout. Exit 0 when a
message went out, 1 when the current state sent nothing (a cancelled appointment: the row is
left as it was, or records why), 2 for bad input or a slot never recorded (nothing changed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from notifier.app import close_services, open_services
from notifier.config import Settings
from notifier.ops.deliveries import BadInput, as_json, parse_slot_key
from notifier.ops.resend import ResendError, ResendResult, resend
from notifier.rules.kinds import CHANNELS, EMAIL, KINDS
from notifier.worker import utc_now


def add(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "resend", help="send one recorded slot again now (same Message-ID)", description=__doc__
    )
    parser.add_argument("kind", choices=[kind.name for kind in KINDS])
    parser.add_argument("--entity", required=True, help="the slot's entity_id (uuid)")
    parser.add_argument("--user", required=True, help="the slot's user_id (uuid)")
    parser.add_argument("--slot", required=True, help="the slot instant (ISO 8601 with a zone)")
    parser.add_argument("--channel", choices=CHANNELS, default=EMAIL)
    return parser


def handle(args: argparse.Namespace, settings: Settings) -> int:
    fields = {
        "kind": args.kind,
        "entity_id": args.entity,
        "user_id": args.user,
        "slot": args.slot,
        "channel": args.channel,
    }
    try:
        result = asyncio.run(_resend(settings, fields))
    except (BadInput, ResendError) as exc:
        print(f"notifier: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({**as_json(result.row), "resent": result.resent, "reason": result.reason}))
    return 0 if result.resent else 1


async def _resend(settings: Settings, fields: dict[str, object]) -> ResendResult:
    key = parse_slot_key(fields)
    services = open_services(settings, utc_now)
    try:
        return await resend(services, key)
    finally:
        await close_services(services)
