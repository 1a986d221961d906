"""The benchmark's markdown report: targets first, then each phase's table, then the why."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.memory import MemoryRun, summary
from bench.profiling import Profile
from bench.selection import SelectionRow
from bench.sending import SendRun


@dataclass(frozen=True)
class Results:
    """Everything one run measured, and the facts about the machine and the run."""

    facts: dict[str, str]
    blast: SendRun
    sends: list[SendRun]
    selection: list[SelectionRow]
    profile: Profile
    memory: MemoryRun
    # (job, seconds, ticks) of each local-time kind's first ticks after loading (every
    # next-send instant computed)
    first_ticks: list[tuple[str, float, int]] = field(default_factory=list)


def _mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _one(results: Results, workers: int) -> SendRun | None:
    """The largest end-to-end run with ``workers`` workers."""
    runs = [r for r in results.sends if r.workers == workers]
    return max(runs, key=lambda r: r.n) if runs else None


def targets(results: Results) -> list[str]:
    one, two = _one(results, 1), _one(results, 2)
    rows = ["| target | measured | |", "|---|---|---|"]
    if one is not None:
        ratio = one.rate / results.blast.rate
        rows.append(
            f"| one worker ≥ 2,000 emails/s | {one.rate:,.0f}/s | {_mark(one.rate >= 2000)} |"
        )
        rows.append(f"| one worker ≥ 50% of the raw blast | {ratio:.0%} | {_mark(ratio >= 0.5)} |")
    if one is not None and two is not None:
        speedup = two.rate / one.rate
        rows.append(f"| two workers ≥ 1.5× one | {speedup:.2f}× | {_mark(speedup >= 1.5)} |")
    rows += [_db_cpu_target(run) for run in (one, two) if run is not None]
    for run in (one, two):
        if run is not None:
            p99 = run.late(0.99)
            rows.append(
                f"| {run.n:,} reminders, p99 lateness ≤ 60 s ({run.workers} worker(s)) "
                f"| {p99:.1f} s | {_mark(p99 <= 60)} |"
            )
    rows += _selection_targets(results.selection)
    low, high = results.memory.drift()
    rows.append(
        f"| worker RSS within ±5% after warm-up | {low:+.1%} / {high:+.1%} "
        f"| {_mark(low >= -0.05 and high <= 0.05)} |"
    )
    return rows


def _db_cpu_target(run: SendRun) -> str:
    """PostgreSQL CPU per delivered email: it bounds how many workers one database serves."""
    used = run.db_us_per_email
    return (
        f"| PostgreSQL CPU ≤ 40 µs per email ({run.workers} worker(s), {run.n:,}) "
        f"| {used:.0f} µs | {_mark(used <= 40)} |"
    )


def _selection_targets(rows: Sequence[SelectionRow]) -> list[str]:
    out = []
    for row in rows:
        limit = 2 if row.due == 0 else 25  # issue 19: ≤ 2 ms with nobody due
        who = "nobody due" if row.due == 0 else f"{row.due:,} due"
        out.append(
            f"| tick of `{row.job}`, {who}, ≤ {limit} ms | {row.tick_ms:.1f} ms "
            f"| {_mark(row.tick_ms <= limit)} |"
        )
    return out


def _cpu(run: SendRun) -> str:
    seconds = max(run.seconds, 1e-9)
    parts = [f"{name} {used / seconds:.0%}" for name, used in sorted(run.cpu.items())]
    return ", ".join(parts)


def sends_table(results: Results) -> list[str]:
    rows = [
        "| phase | workers | emails | emails/s | vs blast | lateness p50 / p99 / max "
        "| job_runs selected / sent | duplicates | PostgreSQL CPU µs/email "
        "| CPU (share of one core) |",
        "|---|---:|---:|---:|---:|---|---|---:|---:|---|",
    ]
    blast = results.blast
    rows.append(
        f"| {blast.label} | – | {len(blast.accepted):,} | {blast.rate:,.0f} | 100% | – | – "
        f"| {blast.duplicates} | – | {_cpu(blast)} |"
    )
    rows += [_sends_row(run, blast.rate) for run in results.sends]
    return rows


def _sends_row(run: SendRun, blast_rate: float) -> str:
    late = f"{run.late(0.5):.1f} / {run.late(0.99):.1f} / {run.late(1.0):.1f} s"
    counts = f"{run.job_run.get('selected', 0):,} / {run.job_run.get('sent', 0):,}"
    return (
        f"| {run.label} | {run.workers} | {len(run.accepted):,} | {run.rate:,.0f} "
        f"| {run.rate / blast_rate:.0%} | {late} | {counts} | {run.duplicates} "
        f"| {run.db_us_per_email:.0f} | {_cpu(run)} |"
    )


def statements_section(results: Results) -> list[str]:
    """PostgreSQL's time by statement in each sending phase of the largest size."""
    largest = max((run.n for run in results.sends), default=0)
    out: list[str] = []
    for run in results.sends:
        if run.n == largest and run.statements:
            out += ["", *_statements_table(run)]
    return out


def _statements_table(run: SendRun) -> list[str]:
    sent = max(len(run.accepted), 1)
    total = sum(s.ms for s in run.statements) or 1.0
    rows = [
        f"Where PostgreSQL's time went in `{run.label}` (`pg_stat_statements`: the server's "
        "wall time in each statement, above its CPU on a busy host; the shares hold):",
        "",
        "| statement | calls | rows | µs per email | share of the top statements |",
        "|---|---:|---:|---:|---:|",
    ]
    for s in run.statements:
        text = s.text.replace("|", "\\|")
        rows.append(
            f"| `{text}` | {s.calls:,} | {s.rows:,} | {s.ms * 1000 / sent:.1f} "
            f"| {s.ms / total:.0%} |"
        )
    return rows


def selection_table(rows: Sequence[SelectionRow]) -> list[str]:
    out = [
        "| job | due | selected | selection median (max) | whole cron tick median (max) |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| `{r.job}` | {r.due:,} | {r.found:,} | {r.select_ms:.2f} ms ({r.select_max_ms:.1f})"
            f" | {r.tick_ms:.2f} ms ({r.tick_max_ms:.1f}) |"
        )
    return out


def first_ticks_lines(first: Sequence[tuple[str, float, int]]) -> list[str]:
    """The one-off cost of deploying migration 0010: every next-send instant computed."""
    if not first:
        return []
    spent = ", ".join(f"`{job}` {seconds:.1f} s in {ticks} ticks" for job, seconds, ticks in first)
    return [
        "First ticks of each local-time kind after loading (every user's next-send instant "
        f"computed, as after deploying migration 0010): {spent}.",
        "",
    ]


def profile_section(profile: Profile) -> list[str]:
    rate = profile.n / profile.plain_seconds if profile.plain_seconds else 0.0
    out = [
        f"In this process, without arq (batch after batch, as `notifier run` does): "
        f"{profile.n:,} reminders in {profile.plain_seconds:.1f} s = **{rate:,.0f} emails/s** "
        f"(counts {profile.plain_counts.as_dict()}).",
        "",
        "Own CPU time under cProfile, by stage:",
        "",
        "| stage | share |",
        "|---|---:|",
        *(f"| {stage} | {share:.0%} |" for stage, share in profile.stages),
        "",
        "Top functions by own time:",
        "",
        "| function | share |",
        "|---|---:|",
        *(f"| `{name}` | {share:.1%} |" for name, share in profile.top),
    ]
    return out


def memory_section(run: MemoryRun) -> list[str]:
    """The memory phase's own summary (``bench.memory.summary``), one paragraph a line."""
    return [line for text in summary(run) for line in (text, "")][:-1]


def render(results: Results, analysis: Sequence[str]) -> str:
    facts = [f"- {key}: {value}" for key, value in results.facts.items()]
    lines = [
        "# notifier benchmark report",
        "",
        "Written by `python -m bench` (see README); every figure below comes from this one run.",
        "",
        *facts,
        "",
        "## Targets",
        "",
        *targets(results),
        "",
        "## Sending: the raw blast (ceiling) and end to end",
        "",
        "![throughput](throughput.png)",
        "",
        "![lateness](lateness.png)",
        "",
        *sends_table(results),
        *statements_section(results),
        "",
        "## Selection: one tick over the full data set",
        "",
        *selection_table(results.selection),
        "",
        *first_ticks_lines(results.first_ticks),
        "## Memory",
        "",
        "![memory](memory.png)",
        "",
        *memory_section(results.memory),
        "",
        "## Where the time goes (profile)",
        "",
        *profile_section(results.profile),
        "",
        "## What holds it back",
        "",
        *analysis,
        "",
    ]
    return "\n".join(lines)


def _shares(run: SendRun) -> dict[str, float]:
    seconds = max(run.seconds, 1e-9)
    return {name: used / seconds for name, used in run.cpu.items()}


def _busiest(run: SendRun) -> str:
    shares = _shares(run)
    name = max(shares, key=lambda k: shares[k])
    total = sum(shares.values())
    return (
        f"During `{run.label}` ({run.seconds:.1f} s) the busiest process was **{name}** at "
        f"{shares[name]:.0%} of one core; all processes together used {total:.2f} of the "
        f"machine's 2 cores ({_cpu(run)})."
    )


def analysis(results: Results) -> list[str]:
    """Which stage limits each sending configuration, from CPU use and the profile."""
    lines = []
    for workers in (1, 2):
        run = _one(results, workers)
        if run is not None:
            lines += [f"- {_busiest(run)}"]
    stages = ", ".join(f"{s} {share:.0%}" for s, share in results.profile.stages[:4])
    lines.append(f"- Inside the worker, the profile puts its CPU into: {stages} (section above).")
    return lines
