"""The report's PNG charts: throughput over time, lateness distribution, worker RSS.

matplotlib is a bench-only dependency (the ``bench`` extra); it draws off-screen (Agg).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from bench.sending import SendRun

BUCKET = 0.5  # seconds per throughput point


class RssSamples(Protocol):
    """What the memory chart draws (``bench.memory.MemoryRun``, which draws it alone too)."""

    @property
    def samples(self) -> list[tuple[int, float]]: ...

    def drift(self) -> tuple[float, float]: ...


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _series(run: SendRun) -> tuple[list[float], list[float]]:
    """Emails per second in ``BUCKET`` steps, from the phase's start."""
    counts = Counter(int((a.at - run.started) / BUCKET) for a in run.accepted)
    if not counts:
        return [], []
    steps = range(max(counts) + 1)
    return [s * BUCKET for s in steps], [counts.get(s, 0) / BUCKET for s in steps]


def throughput(runs: Sequence[SendRun], path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for run in runs:
        ax.plot(*_series(run), label=f"{run.label} ({run.rate:,.0f}/s)", linewidth=1.2)
    ax.set(xlabel="seconds since the tick (blast: since start)", ylabel="emails accepted / s")
    ax.set_title("Throughput into the benchmark's SMTP sink")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def lateness(runs: Sequence[SendRun], path: Path) -> None:
    """Cumulative share of emails accepted within x seconds of their due instant."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for run in runs:
        values = sorted(run.lateness)
        if values:
            shares = [(i + 1) / len(values) for i in range(len(values))]
            ax.plot(values, shares, label=f"{run.label} (p99 {run.late(0.99):.1f} s)")
    ax.axvline(60, color="grey", linestyle="--", linewidth=1, label="target p99 60 s")
    ax.set(xlabel="lateness: SMTP acceptance − due instant (s)", ylabel="share of emails")
    ax.set_title("Lateness distribution (cumulative)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def memory(run: RssSamples, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4))
    ticks, mib = zip(*run.samples, strict=True)
    ax.plot(ticks, mib, marker=".", linewidth=1)
    low, high = run.drift()
    ax.set(xlabel="ticks run", ylabel="worker RSS (MiB)")
    ax.set_title(f"Worker RSS over {ticks[-1]:,} ticks (after warm-up {low:+.1%} / {high:+.1%})")
    ax.set_ylim(0, max(mib) * 1.2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
