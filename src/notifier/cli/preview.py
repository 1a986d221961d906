"""``notifier preview KIND --user ID [--at T]``: the email, rendered; nothing sent or recorded.

Headers and the text part go to stdout, the HTML part to a file (``--html``); why the real
send would not happen, if so, is said in ``X-Preview-Note`` lines among the headers.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from notifier.cli.args import identifier
from notifier.cli.run import instant
from notifier.config import Settings
from notifier.content.render import make_environment
from notifier.db.engine import engine_for
from notifier.ops.preview import KINDS, NothingToPreviewError, Preview, Request, build_preview
from notifier.ops.users import UserNotFoundError
from notifier.paths import templates_dir
from notifier.timemath.zones import UnknownZoneError
from notifier.worker import utc_now


def add(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "preview",
        help="render the email a kind would send a user, without sending or recording it",
        description=__doc__,
    )
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--user", type=identifier, required=True, help="the user's id")
    parser.add_argument("--at", type=instant, help="render as if sent at this instant; default now")
    parser.add_argument(
        "--entity",
        type=identifier,
        help="the appointment, task or task_reminders row (default: the user's next one)",
    )
    parser.add_argument(
        "--html", type=Path, help="file for the HTML part (default ./preview-KIND.html)"
    )
    return parser


def handle(args: argparse.Namespace, settings: Settings) -> int:
    request = Request(args.kind, args.user, args.at or utc_now(), args.entity)
    try:
        preview = asyncio.run(_build(settings, request))
    except (NothingToPreviewError, UserNotFoundError, UnknownZoneError) as exc:
        print(f"notifier preview: {exc}", file=sys.stderr)
        return 1
    html_path: Path = args.html or Path(f"preview-{args.kind}.html")
    html_path.write_text(preview.content.html, encoding="utf-8")
    print(_text(settings, preview, request, html_path))
    return 0


async def _build(settings: Settings, request: Request) -> Preview:
    engine = engine_for(settings, pool_size=1)
    try:
        return await build_preview(engine, make_environment(templates_dir()), settings, request)
    finally:
        await engine.dispose()


def _text(settings: Settings, preview: Preview, request: Request, html_path: Path) -> str:
    """The headers a reader looks at, the preview's own notes as ``X-Preview-*`` lines (stderr
    is for logs), then the text part."""
    return "\n".join(
        (
            f"From: {settings.mail_from}",
            f"To: {preview.to_addr or '(no address)'}",
            f"Subject: {preview.content.subject}",
            f"X-Notification-Kind: {preview.kind}",
            *(f"{name}: {value}" for name, value in preview.headers),
            f"X-Preview: entity {preview.entity_id}, as at {request.at.isoformat()}",
            f"X-Preview-HTML: {html_path}",
            *(f"X-Preview-Note: {note}" for note in preview.notes),
            "",
            preview.content.text,
        )
    )
