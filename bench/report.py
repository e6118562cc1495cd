"""Turns one run's raw results into the metrics table (value, min-max, anchor, ratio, target, met), README and plots.

Met or missed is computed here from the keys of results.json only (`metrics`), so a dashboard or a
check reading the same keys reaches the same verdict; tests/test_bench_smoke.py unit-tests it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench import areas, console_pages

Raw = dict[str, Any]

# The province the sizing table is worked out for: assumptions, stated so a reader can redo the sums.
PROVINCE = {
    "workers": 500_000,  # active gig workers
    "events_per_worker_per_day": 10,  # verified reports, ratings, volunteering: credits
    "active_hours": 12,  # the day's events fall in these hours
    "peak_factor": 3.0,  # the busiest hour against the average of the active hours
}


def get(raw: Raw, dotted: str) -> Any:
    node: Any = raw
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if isinstance(a, int | float) and isinstance(b, int | float) and a and b else None


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
    spread: tuple[Any, Any] | None = None,
    key: str | None = None,
) -> dict[str, Any]:
    return {
        "id": mid,
        "name": name,
        "key": key,
        "value": value,
        "min": spread[0] if spread else None,
        "max": spread[1] if spread else None,
        "unit": unit,
        "anchor": anchor,
        "anchor_name": anchor_name,
        "ratio": ratio if ratio is not None else _ratio(value, anchor),
        "target": target,
        "met": met,
    }


def _spread(raw: Raw, dotted: str) -> tuple[Any, Any]:
    return get(raw, dotted + "_min"), get(raw, dotted + "_max")


def _at_least(value: Any, bound: float) -> bool:
    return isinstance(value, int | float) and value >= bound


def _at_most(value: Any, bound: float) -> bool:
    return isinstance(value, int | float) and value <= bound


def metrics(raw: Raw) -> list[dict[str, Any]]:
    """Every figure of issue 19 beside its same-run anchor; `met` is None where no target is set."""
    out: list[dict[str, Any]] = []
    for name, reason in (raw.get("failed") or {}).items():
        out.append(
            metric(name.split(".")[0], f"{name} did not complete: {reason[:200]}", None, "", target="runs", met=False)
        )
    if m1 := raw.get("M1"):
        u = m1["uniform"]
        rate, ratio = u.get("events_per_s"), m1.get("ratio_to_l1")
        out.append(
            metric(
                "M1",
                "Kafka -> committed transfers, points alone",
                rate,
                "events/s",
                m1.get("ceiling_l1_events_per_s"),
                "L1 = 1/(1/raw drain + tuples per event / COPY rows/s)",
                ">= 10,000/s and >= 0.5 of L1",
                _at_least(rate, 10_000) and _at_least(ratio, 0.5),
                ratio=ratio,
                spread=_spread(raw, "M1.uniform.events_per_s"),
                key="M1.uniform.events_per_s",
            )
        )
        out += [
            metric("M1", "same, beside the raw drain", rate, "events/s", u.get("raw_drain_msgs_per_s"), "raw drain"),
            metric("M1", "same, beside a naive consumer", rate, "events/s", u.get("naive_events_per_s"), "1 tx/event"),
        ]
        if isinstance(m1.get("kafkajs"), dict) and "events_per_s" in m1["kafkajs"]:
            js = m1["kafkajs"]
            out.append(
                metric(
                    "M1",
                    "same, input produced by kafkajs (Node)",
                    js["events_per_s"],
                    "events/s",
                    rate,
                    "input produced by aiokafka",
                    spread=(js.get("events_per_s_min"), js.get("events_per_s_max")),
                    key="M1.kafkajs.events_per_s",
                )
            )
        hot = m1.get("hot_issuance_account") or {}
        if hot.get("events_per_s"):
            out.append(
                metric("M1", "one issuance account, one process", hot["events_per_s"], "events/s", rate, "uniform")
            )
        guard = m1.get("guard") or []
        out.append(
            metric(
                "GUARD",
                "M1 PostgreSQL work per event within the clean path's bounds"
                + (f" (over: {'; '.join(guard)[:300]})" if guard else ""),
                len(guard),
                "runs over",
                target="0",
                met=not guard,
                key="M1.guard",
            )
        )
        out.append(metric("RSS", "points peak RSS under M1", u.get("points_peak_rss_mb"), "MB"))
    if mix := raw.get("MIX"):
        ratio = mix.get("ratio_to_m1")
        out.append(
            metric(
                "MIX",
                "realistic mix (duplicates, reversals, cap, levels, poison), ledger checked",
                mix.get("events_per_s"),
                "events/s",
                get(raw, "M1.uniform.events_per_s"),
                "clean M1, same rounds",
                ">= 0.7 of clean M1",
                bool(mix.get("ledger_checked")) and _at_least(ratio, 0.7),
                ratio=ratio,
                spread=_spread(raw, "MIX.events_per_s"),
                key="MIX.events_per_s",
            )
        )
    if (m2 := raw.get("M2")) and (at := m2.get("at_1000")):
        complete = at.get("missing_transfers") == 0 and at.get("missing_notifications") == 0
        rate = at.get("rate_per_s")
        for path, label, bound in (
            ("publish_to_committed_transfer", "committed transfer", 50),
            ("publish_to_inbox_notification", "stored notification", 100),
        ):
            key = f"M2.at_1000.{path}.p99_ms"
            p99 = get(raw, key)
            out.append(
                metric(
                    "M2",
                    f"publish -> {label} p99 at {rate:.0f}/s offered",
                    p99,
                    "ms",
                    target=f"<= {bound} ms",
                    met=complete and _at_most(p99, bound),
                    spread=_spread(raw, key),
                    key=key,
                )
            )
            out.append(
                metric(
                    "M2",
                    f"publish -> {label} p50",
                    get(raw, f"M2.at_1000.{path}.p50_ms"),
                    "ms",
                    spread=_spread(raw, f"M2.at_1000.{path}.p50_ms"),
                )
            )
        for service, mb in (at.get("peak_rss_mb") or {}).items():
            if not service.endswith(("_min", "_max")):
                out.append(metric("RSS", f"{service} peak RSS under M2 load", mb, "MB"))
        if growth := m2.get("broker_growth"):
            held = growth["steps"][-1]
            out.append(
                metric(
                    "M2",
                    f"embedded broker CPU per fetch holding {held['batches']:,} batches (it lists them all)",
                    held["broker_cpu_ms_per_fetch"],
                    "ms",
                    anchor=growth["steps"][0]["broker_cpu_ms_per_fetch"],
                    anchor_name="the same fetch on an empty partition",
                )
            )
    if m6 := raw.get("M6"):
        value = m6.get("notifications_per_s")
        out.append(
            metric(
                "M6",
                "notification fan-out, notify alone",
                value,
                "events/s",
                m6.get("raw_consume_produce_msgs_per_s"),
                "raw consume -> produce loop",
                ">= 5,000/s",
                _at_least(value, 5_000),
                spread=_spread(raw, "M6.notifications_per_s"),
                key="M6.notifications_per_s",
            )
        )
        out.append(metric("RSS", "notify peak RSS under M6", m6.get("notify_peak_rss_mb"), "MB"))
        if cold := m6.get("cold"):
            out.append(metric("M6", "fan-out, cold start (credits parked for their members)", cold, "events/s"))
    if m4 := raw.get("M4"):
        c = m4["contention"]
        worst_over = c.get("oversold_max", c.get("oversold"))
        worst_under = c.get("undersold_max", c.get("undersold"))
        worst_failed = c.get("failed_requests_max", c.get("failed_requests", 0))
        out += [
            metric(
                "M4",
                "oversold (worst run)",
                worst_over,
                "",
                target="0",
                met=worst_over == 0,
                key="M4.contention.oversold",
            ),
            metric("M4", "undersold (worst run)", worst_under, "", target="0", met=worst_under == 0),
            metric("M4", "requests not answered 202 (worst run)", worst_failed, "", target="0", met=worst_failed == 0),
            metric(
                "M4",
                f"drain: {c['requests']} simultaneous requests for {c['units']} units, every one decided",
                c.get("drain_s"),
                "s",
                m4.get("target_drain_s"),
                "2 x (SQL-only conditional UPDATEs + one Kafka round trip)",
                "<= anchor",
                _at_most(m4.get("drain_over_target"), 1.0),
                ratio=m4.get("drain_over_target"),
                spread=_spread(raw, "M4.contention.drain_s"),
                key="M4.contention.drain_s",
            ),
            metric(
                "M4",
                "sustained confirmed redemptions",
                get(raw, "M4.sustained.confirmed_per_s"),
                "per s",
                spread=_spread(raw, "M4.sustained.confirmed_per_s"),
            ),
        ]
    if m5 := raw.get("M5"):
        out += [
            metric(
                "M5",
                "outbox relay",
                m5.get("relay_events_per_s"),
                "events/s",
                m5.get("raw_producer_msgs_per_s"),
                "raw pipelined aiokafka producer",
                ">= 0.5",
                _at_least(m5.get("ratio_to_raw_producer"), 0.5),
                ratio=m5.get("ratio_to_raw_producer"),
                spread=_spread(raw, "M5.relay_events_per_s"),
            ),
            metric(
                "M5",
                f"commit -> broker ack p99 at {m5.get('paced_rate_per_s')}/s",
                get(raw, "M5.commit_to_ack.p99_ms"),
                "ms",
                target="<= 50 ms",
                met=_at_most(get(raw, "M5.commit_to_ack.p99_ms"), 50),
                spread=_spread(raw, "M5.commit_to_ack.p99_ms"),
            ),
        ]
    if so := raw.get("SCALEOUT"):
        out.append(
            metric(
                "SCALEOUT",
                "two points processes, same partitions",
                so.get("points_x2_events_per_s"),
                "events/s",
                so.get("points_x1_events_per_s"),
                "one process (M1)",
                spread=(so.get("points_x2_events_per_s_min"), so.get("points_x2_events_per_s_max")),
                key="SCALEOUT.points_x2_events_per_s",
            )
        )
        out.append(
            metric(
                "SCALEOUT",
                "two notify processes",
                so.get("notify_x2_notifications_per_s"),
                "events/s",
                so.get("notify_x1_notifications_per_s"),
                "one process",
                spread=(so.get("notify_x2_notifications_per_s_min"), so.get("notify_x2_notifications_per_s_max")),
            )
        )
        m3 = so.get("m3_hot_over_uniform_x2")
        out.append(
            metric(
                "M3",
                "one issuance account vs uniform, two points processes",
                so.get("points_hot_x2_events_per_s"),
                "events/s",
                so.get("points_x2_events_per_s"),
                "uniform (50 districts), two processes",
                ">= 0.8",
                _at_least(m3, 0.8),
                ratio=m3,
            )
        )
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
    out += console_pages.metrics(raw)  # CONSOLE: each page's median against 300 ms
    out += areas.metrics(raw)  # AREAS: a lookup within a few hundred microseconds
    return out


def sizing_basis(m1_uniform: dict[str, Any], scaleout: dict[str, Any]) -> dict[str, Any]:
    """What one event costs here (CPU, database writes, WAL) and the province's sums from it."""
    cpu = {k: v for k, v in (m1_uniform.get("cpu_s_per_1000_events") or {}).items() if not k.endswith(("_min", "_max"))}
    total = sum(v for v in cpu.values() if isinstance(v, int | float))
    work = m1_uniform.get("pg_work") or {}
    per_core = round(1000 / total) if total else None
    p = PROVINCE
    per_day = p["workers"] * p["events_per_worker_per_day"]
    peak = per_day / (p["active_hours"] * 3600) * p["peak_factor"]
    wal = work.get("wal_bytes_per_event")
    return {
        "cpu_s_per_1000_events": cpu,
        "cpu_s_per_1000_events_total": round(total, 3),
        "events_per_s_per_core": per_core,
        "partitions": scaleout.get("partitions", 6),
        "db_tuples_written_per_event": work.get("tuples_written_per_event"),
        "db_statements_per_event": work.get("statements_per_event"),
        "wal_bytes_per_event": wal,
        "province": p,
        "province_events_per_day": per_day,
        "province_peak_events_per_s": round(peak, 1),
        "province_cores_at_peak": round(peak / per_core, 2) if per_core else None,
        "province_wal_gb_per_day": round(per_day * wal / 1e9, 2) if wal else None,
        "province_db_tuples_per_s_at_peak": round(peak * work["tuples_written_per_event"])
        if work.get("tuples_written_per_event")
        else None,
    }


def cpu_table(raw: Raw) -> dict[str, dict[str, float]]:
    """CPU seconds per 1,000 events of each process, per load (medians)."""

    def medians(row: dict[str, Any] | None) -> dict[str, float]:
        return {k: v for k, v in (row or {}).items() if not k.endswith(("_min", "_max"))}

    table: dict[str, dict[str, float]] = {}
    if m1 := raw.get("M1"):
        table["M1 (points alone, drain)"] = medians(m1["uniform"].get("cpu_s_per_1000_events"))
    if mix := raw.get("MIX"):
        table["MIX (points alone, per record)"] = medians(mix.get("cpu_s_per_1000_events"))
    if (m2 := raw.get("M2")) and m2.get("at_1000"):
        table["M2 (points + notify, 1,000/s)"] = medians(m2["at_1000"].get("cpu_s_per_1000_events"))
    if m4 := raw.get("M4"):
        table["M4 (all four, per redemption)"] = medians(m4.get("cpu_s_per_1000_redemptions"))
        crowd = m4.get("contention") or {}
        table["M4 contention only (per request, the load client too)"] = medians(crowd.get("cpu_s_per_1000_requests"))
    if m6 := raw.get("M6"):
        table["M6 (notify alone, drain)"] = medians(m6.get("cpu_s_per_1000_events"))
    return {k: v for k, v in table.items() if v}


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
    bars: list[tuple[str, Any, Any, Any]] = []  # name, median, min, max
    if m1 := raw.get("M1"):
        u = m1["uniform"]
        bars += [
            ("M1 points", u.get("events_per_s"), u.get("events_per_s_min"), u.get("events_per_s_max")),
            (
                "L1 ceiling",
                m1.get("ceiling_l1_events_per_s"),
                m1.get("ceiling_l1_events_per_s_min"),
                m1.get("ceiling_l1_events_per_s_max"),
            ),
            (
                "naive 1 tx/event",
                u.get("naive_events_per_s"),
                u.get("naive_events_per_s_min"),
                u.get("naive_events_per_s_max"),
            ),
            (
                "raw drain",
                u.get("raw_drain_msgs_per_s"),
                u.get("raw_drain_msgs_per_s_min"),
                u.get("raw_drain_msgs_per_s_max"),
            ),
        ]
        js = m1.get("kafkajs") or {}
        if js.get("events_per_s"):
            bars.append(
                ("M1, kafkajs input", js["events_per_s"], js.get("events_per_s_min"), js.get("events_per_s_max"))
            )
    if mix := raw.get("MIX"):
        bars.append(("MIX", mix.get("events_per_s"), mix.get("events_per_s_min"), mix.get("events_per_s_max")))
    if so := raw.get("SCALEOUT"):
        bars.append(
            (
                "points x2",
                so.get("points_x2_events_per_s"),
                so.get("points_x2_events_per_s_min"),
                so.get("points_x2_events_per_s_max"),
            )
        )
    if m6 := raw.get("M6"):
        bars.append(
            (
                "M6 fan-out",
                m6.get("notifications_per_s"),
                m6.get("notifications_per_s_min"),
                m6.get("notifications_per_s_max"),
            )
        )
    if m5 := raw.get("M5"):
        bars.append(
            (
                "M5 relay",
                m5.get("relay_events_per_s"),
                m5.get("relay_events_per_s_min"),
                m5.get("relay_events_per_s_max"),
            )
        )
    bars = [b for b in bars if isinstance(b[1], int | float)]
    if bars:
        fig, ax = plt.subplots(figsize=(10, 4.5))
        names = [b[0] for b in bars]
        values = [max(b[1], 1) for b in bars]
        low = [max(0.0, b[1] - (b[2] if b[2] is not None else b[1])) for b in bars]
        high = [max(0.0, (b[3] if b[3] is not None else b[1]) - b[1]) for b in bars]
        colors = ["tab:gray" if n.startswith(("raw", "L1", "naive")) else "tab:blue" for n in names]
        ax.bar(names, values, color=colors, yerr=[low, high], capsize=4)
        ax.set_yscale("log")
        ax.axhline(10_000, color="tab:red", linestyle="--", linewidth=1, label="M1 target 10,000/s")
        ax.set_ylabel("events/s (log), median, bars min-max")
        ax.set_title("Throughput (blue) beside its same-run anchors (grey)")
        ax.legend()
        plt.setp(ax.get_xticklabels(), rotation=25, ha="right")
        fig.tight_layout()
        fig.savefig(out / "throughput.png", dpi=100)
        plt.close(fig)
        made.append("throughput.png")
    m2 = raw.get("M2") or {}
    if curve := (m2.get("curve") or {}).get("points"):
        fig, ax = plt.subplots(figsize=(9, 4.5))
        xs = [p["offered_per_s"] for p in curve]
        for series, style in (("ledger", "-"), ("inbox", "--")):
            for q in ("p50", "p99"):
                ax.plot(xs, [p[series][f"{q}_ms"] for p in curve], style, marker=".", label=f"{series} {q}")
        ax.axhline(50, color="tab:red", linestyle=":", linewidth=1, label="ledger p99 target 50 ms")
        ax.axhline(100, color="tab:purple", linestyle=":", linewidth=1, label="inbox p99 target 100 ms")
        ax.set_yscale("log")
        ax.set_xlabel(f"offered events/s (10%..100% of the measured maximum {m2['curve']['maximum_per_s']:,.0f}/s)")
        ax.set_ylabel("publish -> committed, ms (log)")
        ax.set_title("M2: latency against offered load (points and notify running)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "latency_curve.png", dpi=100)
        plt.close(fig)
        made.append("latency_curve.png")
    at = m2.get("at_1000") or {}
    if at.get("ledger_latency_by_second"):
        timeline = at["ledger_latency_by_second"]
        fig, ax = plt.subplots(figsize=(9, 4))
        for q in ("p50", "p99"):
            ax.plot([t["second"] for t in timeline], [t[f"{q}_ms"] for t in timeline], marker=".", label=q)
        ax.axhline(50, color="tab:red", linestyle="--", linewidth=1, label="target p99 50 ms")
        ax.set_xlabel(f"second of the open-loop schedule ({at['rate_per_s']:.0f} events/s, median run)")
        ax.set_ylabel("publish -> committed transfer, ms")
        ax.set_title("M2 over the run: rising as the embedded broker's batches pile up (it lists them per fetch)")
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


WORK_KEYS = (
    ("statements_per_event", "statements (pg_stat_statements calls)"),
    ("tuples_inserted_per_event", "tuples inserted"),
    ("tuples_updated_per_event", "tuples updated"),
    ("tuples_hot_updated_per_event", "of which HOT"),
    ("wal_bytes_per_event", "WAL bytes"),
    ("wal_records_per_event", "WAL records"),
    ("commits_per_event", "commits"),
    ("parked_per_event", "credits parked"),
    ("exec_ms_per_1000_events", "execution ms per 1,000 events"),
)


def _work_section(raw: Raw) -> list[str]:
    loads = {
        "M1": get(raw, "M1.uniform.pg_work"),
        "M1 one account": get(raw, "M1.hot_issuance_account.pg_work"),
        "M1 kafkajs input": get(raw, "M1.kafkajs.pg_work"),
        "MIX (per record)": get(raw, "MIX.pg_work"),
        "points x2": get(raw, "SCALEOUT.points_x2.pg_work"),
    }
    loads = {k: v for k, v in loads.items() if isinstance(v, dict)}
    if not loads:
        return []
    lines = [
        "",
        "## PostgreSQL's work per event (median run; what machine noise does not distort)",
        "",
        "| per event | " + " | ".join(loads) + " |",
        "|---|" + "---|" * len(loads),
    ]
    for key, label in WORK_KEYS:
        lines.append(f"| {label} | " + " | ".join(_fmt(w.get(key)) for w in loads.values()) + " |")
    cpu = "M1.uniform.cpu_s_per_1000_events.postgresql"
    lines += [
        "",
        f"PostgreSQL CPU per 1,000 M1 events: {_fmt(get(raw, cpu))} s (min {_fmt(get(raw, cpu + '_min'))},"
        f" max {_fmt(get(raw, cpu + '_max'))}). The guard (`bench/pgwork.py`, BOUNDS)"
        " flags a run whose statements, tuples, WAL bytes or parked credits per event are above the clean path's; see"
        " [notes.md](notes.md) for the regression it keeps found.",
    ]
    if m1 := raw.get("M1"):
        copy = m1["uniform"].get("l1_copy") or {}
        if copy.get("tables"):
            tables = ", ".join(f"`{t}` ({v['rows']:,} rows, {v['indexes']} indexes)" for t, v in copy["tables"].items())
            lines += [
                "",
                f"**L1's COPY** (median run): {tables}: the rows the drain inserted, copied in one transaction into"
                " tables created `LIKE ... INCLUDING ALL` (the same columns, defaults, constraints and indexes; not the"
                f" foreign keys, which LIKE never copies) at {_fmt(m1['uniform'].get('copy_rows_per_s'))} rows/s;"
                f" with {_fmt(m1['uniform'].get('tuples_per_event_for_l1'))} tuples written per event (inserted and"
                " updated: an update writes a new tuple too) and the raw drain of"
                f" {_fmt(m1['uniform'].get('raw_drain_msgs_per_s'))}/s,"
                f" L1 = {_fmt(m1.get('ceiling_l1_events_per_s'))} events/s.",
            ]
    return lines


def _sizing_section(raw: Raw) -> list[str]:
    basis = get(raw, "SCALEOUT.sizing_basis")
    if not isinstance(basis, dict) or not basis.get("events_per_s_per_core"):
        return []
    p = basis["province"]
    cpu = ", ".join(f"{k} {v}" for k, v in basis["cpu_s_per_1000_events"].items())
    so = raw["SCALEOUT"]
    return [
        "",
        "## Scale-out and sizing for a province",
        "",
        f"Two points processes in one consumer group on the same {basis['partitions']} partitions:"
        f" {_fmt(so.get('points_x2_events_per_s'))} events/s beside {_fmt(so.get('points_x1_events_per_s'))} with one"
        f" ({_fmt(so.get('points_x2_over_x1'))}x); two notify processes {_fmt(so.get('notify_x2_notifications_per_s'))}"
        f" beside {_fmt(so.get('notify_x1_notifications_per_s'))} ({_fmt(so.get('notify_x2_over_x1'))}x)."
        " On 2 cores a second process competes with PostgreSQL and the broker for the same cores;"
        " the per-core figure below is what transfers.",
        "",
        "| quantity | measured here / assumed | arithmetic |",
        "|---|---|---|",
        f"| CPU per 1,000 events (M1, all processes) | {basis['cpu_s_per_1000_events_total']} s | {cpu} |",
        f"| events/s per core | {_fmt(basis['events_per_s_per_core'])} |"
        f" 1,000 / {basis['cpu_s_per_1000_events_total']} |",
        f"| partitions (parallel consumers per service) | {basis['partitions']} |"
        " topic spec of incentives.reports.lifecycle.v1 |",
        f"| database tuples written per event | {_fmt(basis['db_tuples_written_per_event'])} |"
        " pg_stat_user_tables, M1 |",
        f"| statements per event | {_fmt(basis['db_statements_per_event'])} | pg_stat_statements, M1 |",
        f"| WAL bytes per event | {_fmt(basis['wal_bytes_per_event'])} | pg_stat_wal, M1 |",
        f"| province: workers x events a day (assumed) | {p['workers']:,} x {p['events_per_worker_per_day']} ="
        f" {basis['province_events_per_day']:,} | |",
        f"| peak events/s (assumed {p['active_hours']} active hours, peak {p['peak_factor']}x) |"
        f" {basis['province_peak_events_per_s']} | {basis['province_events_per_day']:,} / ({p['active_hours']} x 3,600)"
        f" x {p['peak_factor']} |",
        f"| cores at peak (points + its PostgreSQL + broker) | {basis['province_cores_at_peak']} |"
        f" {basis['province_peak_events_per_s']} / {_fmt(basis['events_per_s_per_core'])} |",
        f"| database tuples/s at peak | {_fmt(basis['province_db_tuples_per_s_at_peak'])} |"
        f" {basis['province_peak_events_per_s']} x {_fmt(basis['db_tuples_written_per_event'])} |",
        f"| WAL per day | {basis['province_wal_gb_per_day']} GB | {basis['province_events_per_day']:,} x"
        f" {_fmt(basis['wal_bytes_per_event'])} B |",
    ]


METHOD = """\
## How each figure is measured

Every benchmark starts its own embedded stack (PostgreSQL with pg_stat_statements, and Tansu, on
free ports, no demo traffic) and runs its anchors in the same run. Each figure is the median of
the runs (3 by default) with min and max; M1, its kafkajs twin and MIX run interleaved round by
round. Every wait has a deadline and names what is missing when it runs out; a failed benchmark is
listed at the top and the run exits 1. Nothing here is asserted in tests: `tests/test_bench_smoke.py`
runs the harness at `BENCH_SCALE=smoke` and unit-tests the met/missed logic on given numbers.

- **M1** (`bench/points_ledger.py`): M members registered and projected by points (then points is
  stopped), N report.verified pre-filled, points started; events/s from its first committed
  transfer to the N-th. Around the drain: CPU per process (psutil) and PostgreSQL's work per event
  (`bench/pgwork.py`: pg_stat_statements, pg_stat_user_tables, pg_stat_wal, read after the service
  stopped so its statistics are flushed). After it: a raw aiokafka drain of the same records, L1's
  COPY (above) and a naive consumer (one transaction per event). The kafkajs variant produces the
  same input with `bench/kafkajs/produce.cjs` (Node, kafkajs). Before issue 19, M1 pre-filled
  registrations and reports together: see notes.md for what that measured.
- **MIX**: the same with `bench/workload.py`'s mix (10% of reports delivered twice, 2% reversals,
  1 member in 8 crossing the daily cap and the first star, 0.1% poison records); the ledger is then
  compared with the expected one (balances, transfers per kind, cap cuts, dead letters, levels) and
  a difference fails the run. Rate: credits per second, as M1.
- **M2** (`bench/latency.py`): points and notify running; 1,000 report.verified/s offered open loop
  for 60 s (event i due at t0 + i/rate whatever the system does, latency from that due time); a
  benchmark-only row trigger calls `pg_notify` on points.transfers and notify.notifications, heard
  at commit. The curve: one stack, 10 steps from 10% to 100% of the lower of M1's and M6's rates.
- **M4** (`bench/redemptions.py`): R simultaneous HTTP redemptions for U units; drain = until every
  request is decided; every answer must be 202. Target: 2 x (the same R conditional UPDATEs alone,
  SQL only, 100 connections + one Kafka round trip), both in the same run. Then N redemptions with
  ample stock, 50 in flight: confirmed per second.
- **M5** (`bench/relay.py`): the kernel's OutboxRelay in-process, N rows committed at once, then
  rows committed one per transaction at a fixed rate (commit -> ack).
- **M6** (`bench/fanout.py`): M members projected by notify first (then it is stopped), N
  points.credited pre-filled, notify started again; from the first stored notification until every
  one is stored and its notification.created acknowledged. Beside it (full runs), one cold run:
  members and credits on their topics before notify starts, so early credits wait in parking for
  their member (`M6.cold`).
- **SCALEOUT / M3**: M1 with two points processes in one consumer group (uniform, then every member
  in one district: one issuance account, M3), and M6 with two notify processes. M3 compares the two
  two-process runs: a hot row would make two processes wait on each other, one process never does.
- **Scale** (`bench/points_scale.py`): the API's own SQL over a 10M-transfer ledger.
"""


def _short(name: str, limit: int = 90) -> str:
    """A failed benchmark's name carries its whole error: the summary line keeps its start."""
    return name if len(name) <= limit else name[: limit - 3].rstrip() + "..."


def readme(
    raw: Raw,
    rows: list[dict[str, Any]],
    images: list[str],
    profile: bool,
    notes: bool = False,
    context: str = "",
    notify_profile: bool = False,
) -> str:
    m = raw["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`uv run python -m bench`); the raw figures are in `results.json`.",
        "",
        f"Run {raw['when']} at scale `{raw['scale']}`, each figure the median of {raw.get('repeats', 1)} run(s)"
        f" (min-max beside it), on {m['cpu_model']}, {m['cores']} cores, {m['memory_gb']} GB, load average"
        f" {m['load_avg_at_start']} at start; Python {m['python']}, PostgreSQL {m['postgresql']},"
        f" {m['tansu']}, {m['os']}.",
        "",
    ]
    if raw.get("note"):
        lines += [f"> {raw['note']}", ""]
    if raw.get("merged"):
        lines += [
            f"> Kept from an earlier run (each part's `when` is in results.json): {', '.join(raw['merged'])}.",
            "",
        ]
    targets = [r for r in rows if r["met"] is not None]
    met = [r for r in targets if r["met"]]
    missed = [r for r in targets if not r["met"]]
    lines += [
        f"**Targets met: {len(met)} of {len(targets)}.**"
        + (" Missed: " + "; ".join(f"{r['id']} {_short(r['name'])}" for r in missed) + "." if missed else ""),
        "",
        "| | metric | value | min-max | same-run anchor | ratio | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        unit = f" {r['unit']}" if r["unit"] else ""
        anchor = f"{_fmt(r['anchor'])} ({r['anchor_name']})" if r["anchor"] is not None else "-"
        span = f"{_fmt(r['min'])}-{_fmt(r['max'])}" if r["min"] is not None else "-"
        lines.append(
            f"| {r['id']} | {r['name']} | {_fmt(r['value'])}{unit} | {span} | {anchor} | {_fmt(r['ratio'])} |"
            f" {r['target'] or '-'} | {_fmt(r['met'])} |"
        )
    # Hand-written context (how met/missed is decided, what the misses mean) survives regeneration.
    lines += ["", context.strip()] if context.strip() else []
    lines += _work_section(raw)
    lines += _sizing_section(raw)
    cpu = cpu_table(raw)
    if cpu:
        procs = sorted({p for row in cpu.values() for p in row})
        lines += ["", "## CPU seconds per 1,000 events", "", "| load | " + " | ".join(procs) + " |"]
        lines.append("|---|" + "---|" * len(procs))
        for load, row in cpu.items():
            lines.append(f"| {load} | " + " | ".join(_fmt(row.get(p)) for p in procs) + " |")
    if images:
        lines += ["", "## Plots", ""] + [f"![{name}]({name})" for name in images]
    if profile:
        lines += ["", "Where the points service's time goes under M1: [profile-points.md](profile-points.md)."]
    if notify_profile:
        lines += ["", "Where the notify service's time goes under M6: [profile-notify.md](profile-notify.md)."]
    if notes:
        lines += ["", "The regression of issue 19 and the analysis of the misses: [notes.md](notes.md)."]
    lines += ["", METHOD]
    return "\n".join(lines) + "\n"


def write(raw: Raw, out: Path) -> dict[str, Any]:
    """results.json, the plots and README.md in `out`, from one run's raw results."""
    out.mkdir(parents=True, exist_ok=True)
    rows = metrics(raw)
    result = {**raw, "metrics": rows}
    (out / "results.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    images = plots(raw, out)
    context = out / "context.md"
    text = readme(
        raw,
        rows,
        images,
        (out / "profile-points.md").exists(),
        (out / "notes.md").exists(),
        context.read_text() if context.exists() else "",
        (out / "profile-notify.md").exists(),
    )
    (out / "README.md").write_text(text)
    return result


if __name__ == "__main__":
    # Re-render the table and plots of an existing results.json (after editing this module, or notes.md).
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/benchmarks")
    saved = json.loads((folder / "results.json").read_text())
    saved.pop("metrics", None)
    write(saved, folder)
