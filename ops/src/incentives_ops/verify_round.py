"""`incentives verify-round`: fetch a closed round (figures, seed, ranking) and re-compute it independently.

It checks the seed (the server's randomness mixed with the operator's, as committed at opening), the
ranking and its digest, and what happened after the close: disqualifications (each with a reason)
and the places that passed on, in rank order (allocation.check_changes). The stored ranking is read
and re-computed by the console's verify module, so the CLI and the console's verify page agree."""

from __future__ import annotations

from typing import Any

import httpx
from incentives_console.verify import recompute, stored_ranking
from rewards import allocation
from rewards.lifecycle import HOLDS_PLACE, ApplicationStatus


def check(round_json: dict[str, Any]) -> tuple[str, bool]:
    """The report and whether the stored result is what the figures and seed give."""
    if round_json["status"] != "closed":
        return f"round {round_json['round_id']} is {round_json['status']}: nothing to verify yet", False
    stored = stored_ranking(round_json)
    mixing: list[str] = []
    if round_json.get("server_seed"):
        mixed = allocation.mix_seed(round_json["server_seed"], round_json.get("operator_seed"))
        if mixed != round_json["seed"]:
            mixing.append("the seed is not the server's randomness mixed with the operator's seed")
    outcomes = [
        allocation.Outcome(a["rank"], a["member_id"], a["status"], bool(a["won_at_close"]), a["reason"])
        for a in round_json["applications"]
        if a["rank"] is not None
    ]
    changes = allocation.check_changes(outcomes, round_json["quota"])
    verdict = recompute(round_json, stored)
    lines = [
        f"round {round_json['round_id']}: quota {round_json['quota']}, {len(stored)} ranked, "
        f"seed sha256 {round_json['seed_sha256'][:16]}..., standings day {round_json['standings_day']}",
        f"{'rank':>4}  {'member':<24} {'stars':>5} {'earned':>7}  {'applied (as ranked)':<25} {'ticket':<12} result",
    ]
    for r in verdict.recomputed:
        tie = " (tie: lottery)" if r.tie_broken_by_lottery else ""
        lines.append(
            f"{r.rank:>4}  {r.member_id:<24} {r.star_level:>5} {r.earned_365d:>7}  {r.applied_at.isoformat():<25} "
            f"{r.ticket[:12]} {'won' if r.won else 'lost'}{tie}"
        )
    for o in outcomes:
        if o.status == ApplicationStatus.DISQUALIFIED or (o.status in HOLDS_PLACE and not o.won_at_close):
            lines.append(f"after the close: rank {o.rank} {o.member_id} {o.status} {o.reason or ''}".rstrip())
    problems = mixing + verdict.problems + changes
    lines += [f"problem: {p}" for p in problems]
    matches = not problems
    lines.append(
        f"result: {round_json.get('result_status') or 'final'}, notice until {round_json.get('notice_ends_at')}"
    )
    lines.append("verdict: MATCHES the stored result" if matches else "verdict: DIFFERS from the stored result")
    return "\n".join(lines), matches


def verify_round(base_url: str, token: str, round_id: str) -> tuple[str, bool]:
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as http:
        r = http.get(f"/v1/allocation-rounds/{round_id}")
        r.raise_for_status()
        return check(r.json())
