"""Turns one run's raw results into the metrics table (value, anchor, ratio, target, met), README and plots."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

Raw = dict[str, Any]


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def metric(
    mid: str,
    name: str,
    value: float | None,
    unit: str,
    anchor: float | None = None,
    anchor_name: str | None = None,
    target: str | None = None,
    met: bool | None = None,
    ratio: float | None = None,
) -> dict[str, Any]:
    return {
        "id": mid,
        "name": name,
        "value": value,
        "unit": unit,
        "anchor": anchor,
        "anchor_name": anchor_name,
        "ratio": ratio if ratio is not None else _ratio(value, anchor),
        "target": target,
        "met": met,
    }


def metrics(raw: Raw) -> list[dict[str, Any]]:
    """Every figure of the issue beside its same-run anchor; `met` is None where no target is set."""
    out: list[dict[str, Any]] = []
    if m1 := raw.get("M1"):
        u, h = m1["uniform"], m1["hot_issuance_account"]
        rate = u["events_per_s"]
        ceiling = min(u["raw_drain_msgs_per_s"], u["copy_rows_per_s"])
        fraction = _ratio(rate, ceiling)
        met = bool(rate and rate >= 10_000 and fraction and fraction >= 0.5)
        out += [
            metric(
                "M1",
                "Kafka -> committed transfers",
                rate,
                "events/s",
                ceiling,
                "ceiling: min(raw aiokafka drain, COPY of the same rows)",
                ">= 10,000/s and >= 0.5 of the ceiling",
                met,
            ),
            metric("M1", "same, beside the raw drain", rate, "events/s", u["raw_drain_msgs_per_s"], "raw drain"),
            metric("M1", "same, beside COPY", rate, "events/s", u["copy_rows_per_s"], "COPY rows/s"),
            metric(
                "M1", "same, beside a naive consumer", rate, "events/s", u["naive_events_per_s"], "1 transaction/event"
            ),
        ]
        r3 = _ratio(h["events_per_s"], rate)
        out.append(
            metric(
                "M3",
                "one issuance account vs uniform",
                h["events_per_s"],
                "events/s",
                rate,
                "uniform (50 districts)",
                ">= 0.8",
                bool(r3 and r3 >= 0.8),
            )
        )
        out.append(metric("RSS", "points peak RSS under M1", u["points_peak_rss_mb"], "MB"))
    if m2 := raw.get("M2"):
        ledger, inbox = m2["publish_to_committed_transfer"], m2["publish_to_inbox_notification"]
        complete = m2["missing_transfers"] == 0
        for q in ("p50", "p95", "p99"):
            target, met = ("<= 50 ms", complete and ledger["p99_ms"] <= 50) if q == "p99" else (None, None)
            out.append(
                metric(
                    "M2",
                    f"publish -> committed transfer {q} at {m2['rate_per_s']:.0f}/s",
                    ledger[f"{q}_ms"],
                    "ms",
                    target=target,
                    met=met,
                )
            )
        for q in ("p50", "p95", "p99"):
            out.append(metric("M2", f"publish -> inbox notification {q}", inbox[f"{q}_ms"], "ms"))
        for service, mb in m2["peak_rss_mb"].items():
            out.append(metric("RSS", f"{service} peak RSS under M2 load", mb, "MB"))
    if m4 := raw.get("M4"):
        c = m4["contention"]
        budget = m4["target_drain_s"]
        out += [
            metric("M4", "oversold", c["oversold"], "", target="0", met=c["oversold"] == 0),
            metric("M4", "undersold", c["undersold"], "", target="0", met=c["undersold"] == 0),
            metric("M4", f"confirmed / rejected of {c['requests']} for {c['units']}", c["confirmed"], "confirmed"),
            metric(
                "M4",
                "drain: every request decided",
                c["drain_s"],
                "s",
                budget,
                "2 x SQL-only conditional UPDATEs + one Kafka round trip",
                "<= anchor",
                c["drain_s"] <= budget,
            ),
        ]
        for service, mb in m4.get("peak_rss_mb", {}).items():
            out.append(metric("RSS", f"{service} peak RSS under M4 load", mb, "MB"))
    if m5 := raw.get("M5"):
        out += [
            metric(
                "M5",
                "outbox relay",
                m5["relay_events_per_s"],
                "events/s",
                m5["raw_producer_msgs_per_s"],
                "raw pipelined aiokafka producer",
                ">= 0.5",
                m5["ratio_to_raw_producer"] >= 0.5,
            ),
            metric(
                "M5",
                f"commit -> broker ack p99 at {m5['paced_rate_per_s']}/s",
                m5["commit_to_ack"]["p99_ms"],
                "ms",
                target="<= 50 ms",
                met=m5["commit_to_ack"]["p99_ms"] <= 50,
            ),
        ]
    if m6 := raw.get("M6"):
        r6 = m6["ratio_to_raw"]
        out += [
            metric(
                "M6",
                "notification fan-out",
                m6["notifications_per_s"],
                "events/s",
                m6["raw_consume_produce_msgs_per_s"],
                "raw consume -> produce loop",
                ">= 0.5",
                bool(r6 and r6 >= 0.5),
            ),
            metric("RSS", "notify peak RSS under M6", m6["notify_peak_rss_mb"], "MB"),
        ]
    if scale := raw.get("Scale"):
        label = f"{scale['transfers']:,} transfers, {scale['members']:,} members"
        for key, name in (
            ("balance", "balance p99"),
            ("ledger_first_page", "ledger first page (50) p99"),
            ("ledger_page_from_cursor", "ledger page from a cursor (keyset) p99"),
            ("leaderboard_top100_year_city", "leaderboard top-100 (city, year) p99"),
            ("leaderboard_top100_year_district", "leaderboard top-100 (district, year) p99"),
        ):
            out.append(metric("Scale", f"{name} ({label})", scale["queries"][key]["p99_ms"], "ms"))
    return out


def cpu_table(raw: Raw) -> dict[str, dict[str, float]]:
    """CPU seconds per 1,000 events of each process, per load."""
    table: dict[str, dict[str, float]] = {}
    if m1 := raw.get("M1"):
        table["M1 (points alone, drain)"] = m1["uniform"]["cpu_s_per_1000_events"]
    if m2 := raw.get("M2"):
        table["M2 (points + notify, open loop)"] = m2["cpu_s_per_1000_events"]
    if m4 := raw.get("M4"):
        table["M4 (all four, per redemption)"] = m4.get("cpu_s_per_1000_redemptions", {})
    if m6 := raw.get("M6"):
        table["M6 (notify alone, drain)"] = m6["cpu_s_per_1000_events"]
    return table


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "**yes**" if value else "**no**"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return f"{value:,.0f}" if isinstance(value, int | float) else str(value)


def plots(raw: Raw, out: Path) -> list[str]:
    """PNG plots of the run; returns their file names."""
    made: list[str] = []
    bars: list[tuple[str, float]] = []
    if m1 := raw.get("M1"):
        u, h = m1["uniform"], m1["hot_issuance_account"]
        bars += [
            ("M1 points", u["events_per_s"] or 0),
            ("M3 one account", h["events_per_s"] or 0),
            ("naive 1 tx/event", u["naive_events_per_s"] or 0),
            ("raw drain", u["raw_drain_msgs_per_s"]),
            ("COPY", u["copy_rows_per_s"]),
        ]
    if m5 := raw.get("M5"):
        bars += [("M5 relay", m5["relay_events_per_s"]), ("raw producer", m5["raw_producer_msgs_per_s"])]
    if m6 := raw.get("M6"):
        bars += [
            ("M6 fan-out", m6["notifications_per_s"] or 0),
            ("raw cons->prod", m6["raw_consume_produce_msgs_per_s"]),
        ]
    if bars:
        fig, ax = plt.subplots(figsize=(9, 4))
        colors = ["tab:blue" if not n.startswith(("raw", "COPY", "naive")) else "tab:gray" for n, _ in bars]
        ax.bar([n for n, _ in bars], [max(v, 1) for _, v in bars], color=colors)
        ax.set_yscale("log")
        ax.axhline(10_000, color="tab:red", linestyle="--", linewidth=1, label="M1 target 10,000/s")
        ax.set_ylabel("events/s (log)")
        ax.set_title("Throughput (blue) beside its same-run anchors (grey)")
        ax.legend()
        plt.setp(ax.get_xticklabels(), rotation=25, ha="right")
        fig.tight_layout()
        fig.savefig(out / "throughput.png", dpi=100)
        plt.close(fig)
        made.append("throughput.png")
    series: list[tuple[str, dict[str, float]]] = []
    if m2 := raw.get("M2"):
        series += [
            ("M2 to ledger", m2["publish_to_committed_transfer"]),
            ("M2 to inbox", m2["publish_to_inbox_notification"]),
        ]
    if m5 := raw.get("M5"):
        series.append(("M5 commit->ack", m5["commit_to_ack"]))
    if series:
        made.append(_percentile_plot(series, "Latency percentiles", out / "latency.png", target=50))
    if m2 and m2.get("ledger_latency_by_second"):
        timeline = m2["ledger_latency_by_second"]
        fig, ax = plt.subplots(figsize=(9, 4))
        for q in ("p50", "p99"):
            ax.plot([t["second"] for t in timeline], [t[f"{q}_ms"] for t in timeline], marker=".", label=q)
        ax.axhline(50, color="tab:red", linestyle="--", linewidth=1, label="target p99 50 ms")
        ax.set_xlabel(f"second of the open-loop schedule ({m2['rate_per_s']:.0f} events/s)")
        ax.set_ylabel("publish -> committed transfer, ms")
        ax.set_title("M2 over the run: flat when the system keeps up, rising when it queues")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "latency_timeline.png", dpi=100)
        plt.close(fig)
        made.append("latency_timeline.png")
    if scale := raw.get("Scale"):
        made.append(
            _percentile_plot(
                list(scale["queries"].items()),
                f"Read paths at {scale['transfers']:,} transfers / {scale['members']:,} members",
                out / "scale.png",
            )
        )
    cpu = cpu_table(raw)
    if cpu:
        fig, ax = plt.subplots(figsize=(9, 4))
        procs = sorted({p for row in cpu.values() for p in row})
        bottom = [0.0] * len(cpu)
        for proc in procs:
            values = [row.get(proc, 0.0) for row in cpu.values()]
            ax.bar(list(cpu), values, bottom=bottom, label=proc)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.set_ylabel("CPU seconds per 1,000 events")
        ax.set_title("Where the CPU goes, per process")
        ax.legend()
        plt.setp(ax.get_xticklabels(), rotation=15, ha="right")
        fig.tight_layout()
        fig.savefig(out / "cpu.png", dpi=100)
        plt.close(fig)
        made.append("cpu.png")
    return made


def _percentile_plot(series: list[tuple[str, dict[str, float]]], title: str, path: Path, target: float = 0) -> str:
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.27
    xs = range(len(series))
    for k, q in enumerate(("p50", "p95", "p99")):
        ax.bar([x + (k - 1) * width for x in xs], [s[f"{q}_ms"] for _, s in series], width, label=q)
    if target:
        ax.axhline(target, color="tab:red", linestyle="--", linewidth=1, label=f"target p99 {target:.0f} ms")
    ax.set_xticks(list(xs), [name for name, _ in series], rotation=20, ha="right")
    ax.set_ylabel("ms")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path.name


METHOD = """\
## How each figure is measured

Every benchmark starts its own embedded stack (PostgreSQL and Tansu on free ports, no demo
traffic) and runs its anchors in the same run, on the same machine, so the ratios mean something
even on a noisy machine. Nothing here is asserted in tests: `tests/test_bench_smoke.py` runs the
whole harness at `BENCH_SCALE=smoke` and checks only that every figure is produced.

- **M1** (`bench/points_ledger.py`): N report.verified events for M registered members are
  pre-filled, then only the points service is started; events/s from its first committed transfer
  to the N-th (polling `count(*)`). Anchors: a bare aiokafka drain of the same topic, a COPY of N
  transfer-shaped rows, and a naive consumer (plain aiokafka, one transaction with one insert per
  event, at most 3,000 events). CPU is read from `/proc` (psutil) for the service process,
  PostgreSQL (postmaster and its backends) and Tansu, over the drain.
- **M3**: M1 again with every member in one district, so every credit is drawn from one issuance
  account.
- **M2** (`bench/latency.py`): points and notify running and ready; a paced producer publishes one
  report.verified per distinct member at half of M1's rate. Open loop: event i is due at
  t0 + i/rate whatever the system does, and latency is measured from that due time. A row trigger
  added for the benchmark calls `pg_notify` on points.transfers and notify.notifications; PostgreSQL
  delivers a notification only when the inserting transaction commits, so the time heard is the
  commit, on the same monotonic clock as the due time.
- **M4** (`bench/redemptions.py`): R simultaneous HTTP redemptions for U units; drain = until every
  request is decided. Anchor: the same R conditional UPDATEs alone (SQL only, 100 connections),
  times 2, plus one Kafka round trip.
- **M5** (`bench/relay.py`): the kernel's OutboxRelay in-process on a scratch schema, with the real
  producer wrapped only to time each ack. N rows committed in one transaction, events/s from that
  commit to the last ack, beside a bare pipelined aiokafka producer of the same records; then rows
  committed one per transaction at a fixed rate, commit -> ack per row.
- **M6** (`bench/fanout.py`): N points.credited pre-filled, only notify started; from its first
  stored notification until every notification.created is acknowledged (outbox row marked
  published). Anchor: a bare consume -> produce loop over the same records.
- **Scale** (`bench/points_scale.py`): the points schema filled with T transfers over M members
  (generated inside PostgreSQL, members interleaved in time), their balances, and 30 earning days
  each; p50/p95/p99 of the API's own SQL (`points.repository`, `points.levels`): a balance (member,
  posted balance, 365-day figure), a ledger page of 50 (first page, and from a random cursor), the
  leaderboard top 100.
"""


def readme(raw: Raw, rows: list[dict[str, Any]], images: list[str], profile: bool, notes: bool = False) -> str:
    m = raw["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`uv run python -m bench`); the raw figures are in `results.json`.",
        "",
        f"Run {raw['when']} at scale `{raw['scale']}` on {m['cpu_model']}, {m['cores']} cores, {m['memory_gb']} GB,"
        f" load average {m['load_avg_at_start']} at start; Python {m['python']}, PostgreSQL {m['postgresql']},"
        f" {m['tansu']}, {m['os']}.",
        "",
    ]
    if raw.get("note"):
        lines += [f"> {raw['note']}", ""]
    if raw.get("merged"):
        kept = ", ".join(raw["merged"])
        lines += [f"> Kept from an earlier run (each part's `when` is in results.json): {kept}.", ""]
    targets = [r for r in rows if r["met"] is not None]
    met = [r for r in targets if r["met"]]
    lines += [
        f"**Targets met: {len(met)} of {len(targets)}.**"
        + (
            " Missed: " + "; ".join(f"{r['id']} {r['name']}" for r in targets if not r["met"]) + "."
            if met != targets
            else ""
        ),
        "",
        "| | metric | value | same-run anchor | ratio | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        unit = f" {r['unit']}" if r["unit"] else ""
        anchor = f"{_fmt(r['anchor'])} ({r['anchor_name']})" if r["anchor"] is not None else "-"
        lines.append(
            f"| {r['id']} | {r['name']} | {_fmt(r['value'])}{unit} | {anchor} | {_fmt(r['ratio'])} |"
            f" {r['target'] or '-'} | {_fmt(r['met'])} |"
        )
    cpu = cpu_table(raw)
    if cpu:
        procs = sorted({p for row in cpu.values() for p in row})
        lines += [
            "",
            "## CPU seconds per 1,000 events",
            "",
            "| load | " + " | ".join(procs) + " |",
            "|---|" + "---|" * len(procs),
        ]
        for load, row in cpu.items():
            lines.append(f"| {load} | " + " | ".join(_fmt(row.get(p)) for p in procs) + " |")
        for load, row in cpu.items():
            total = sum(row.values())
            if total:
                top = max(row, key=lambda p: row[p])
                lines.append(f"\n{load}: {total:.2f} CPU-s per 1,000 events, {row[top] / total:.0%} of it in {top}.")
    if images:
        lines += ["", "## Plots", ""] + [f"![{name}]({name})" for name in images]
    if profile:
        lines += ["", "Where the points service's time goes under M1: [profile-points.md](profile-points.md)."]
    if notes:
        lines += ["", "Why the missed targets are missed, and what to change: [notes.md](notes.md)."]
    lines += ["", METHOD]
    return "\n".join(lines) + "\n"


def write(raw: Raw, out: Path) -> dict[str, Any]:
    """results.json, the plots and README.md in `out`, from one run's raw results."""
    out.mkdir(parents=True, exist_ok=True)
    rows = metrics(raw)
    result = {**raw, "metrics": rows}
    (out / "results.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    images = plots(raw, out)
    text = readme(raw, rows, images, (out / "profile-points.md").exists(), (out / "notes.md").exists())
    (out / "README.md").write_text(text)
    return result


if __name__ == "__main__":
    # Re-render the table and plots of an existing results.json (after editing this module, or notes.md).
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/benchmarks")
    saved = json.loads((folder / "results.json").read_text())
    saved.pop("metrics", None)
    write(saved, folder)
