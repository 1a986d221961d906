"""The overview's chart, drawn on the server as SVG: no script, no outside asset (pure).

One horizontal bar per kind and channel, its length the deliveries of the last 24 hours,
split by status. Colours are SVG presentation attributes, not ``style``: the console's CSP
allows no inline style. Every label is escaped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from html import escape

from notifier.ops.deliveries import STATUSES, Tally

COLOURS = {"sent": "#2f855a", "failed": "#c53030", "skipped": "#a0aec0", "pending": "#d69e2e"}
WIDTH = 760
LABEL = 260
BAR = 18
GAP = 8
TOP = 28


def _bars(tallies: Sequence[Tally]) -> dict[tuple[str, str], dict[str, int]]:
    bars: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for t in tallies:
        bars[(t.kind, t.channel)][t.status] = bars[(t.kind, t.channel)].get(t.status, 0) + t.count
    return dict(sorted(bars.items()))


def _legend() -> list[str]:
    parts = []
    for n, status in enumerate(STATUSES):
        x = LABEL + n * 110
        parts.append(f'<rect x="{x}" y="4" width="12" height="12" fill="{COLOURS[status]}"/>')
        parts.append(f'<text x="{x + 16}" y="14" font-size="12">{escape(status)}</text>')
    return parts


def _row(y: int, name: str, counts: dict[str, int], scale: float) -> list[str]:
    total = sum(counts.values())
    parts = [f'<text x="0" y="{y + 13}" font-size="12">{escape(name)}</text>']
    x = float(LABEL)
    for status in STATUSES:
        width = counts.get(status, 0) * scale
        if width > 0:
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{BAR}" '
                f'fill="{COLOURS[status]}"><title>{escape(name)}: {counts[status]} '
                f"{escape(status)}</title></rect>"
            )
            x += width
    parts.append(f'<text x="{x + 4:.1f}" y="{y + 13}" font-size="12">{total}</text>')
    return parts


def deliveries_chart(tallies: Sequence[Tally]) -> str:
    """The SVG element (to embed in the page as is)."""
    bars = _bars(tallies)
    height = TOP + max(len(bars), 1) * (BAR + GAP)
    most = max((sum(c.values()) for c in bars.values()), default=0)
    scale = (WIDTH - LABEL - 60) / most if most else 0.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" '
        'aria-label="Deliveries in the last 24 hours by kind and channel">',
        *_legend(),
    ]
    for n, ((kind, channel), counts) in enumerate(bars.items()):
        parts += _row(TOP + n * (BAR + GAP), f"{kind} / {channel}", counts, scale)
    if not bars:
        parts.append(f'<text x="0" y="{TOP + 13}" font-size="12">no deliveries</text>')
    parts.append("</svg>")
    return "".join(parts)
