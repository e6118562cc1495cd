"""Verify a closed round: re-compute its ranking from the figures and seed the rewards API publishes.

With rewards' own pure ranking function (rewards.allocation), shown as a table: anyone may repeat it
from the public answer of `GET /v1/allocation-rounds/{id}`. `stored_ranking` and `recompute` read
that answer for `incentives verify-round` too (incentives_ops.verify_round, which adds the seed's
mixing and the changes after the close), so the console and the CLI check one and the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rewards import allocation


@dataclass(frozen=True)
class Verification:
    ranked: int
    verdict: allocation.Verdict


def stored_ranking(round_json: dict[str, Any]) -> list[allocation.Ranked]:
    """The ranking as stored: the ranked applications with their frozen figures."""
    return [
        allocation.Ranked(
            rank=a["rank"],
            member_id=a["member_id"],
            star_level=a["star_level"],
            earned_365d=a["earned_365d"],
            applied_at=datetime.fromisoformat(a["ranked_at"]),
            ticket=a["ticket"],
            won=a["won_at_close"],
            tie_broken_by_lottery=a["tie_broken_by_lottery"],
        )
        for a in round_json["applications"]
        if a["rank"] is not None
    ]


def recompute(round_json: dict[str, Any], stored: list[allocation.Ranked]) -> allocation.Verdict:
    """The ranking re-computed from the round's figures and revealed seed, against the stored one."""
    return allocation.verify(
        round_id=round_json["round_id"],
        seed=round_json["seed"],
        seed_sha256=round_json["seed_sha256"],
        quota=round_json["quota"],
        stored=stored,
        stored_digest=round_json["result_sha256"],
    )


def verify(round_json: dict[str, Any]) -> Verification | None:
    """The verdict for a closed round; None while it is not closed (no seed, no ranking yet)."""
    if round_json["status"] != "closed" or not round_json.get("seed"):
        return None
    stored = stored_ranking(round_json)
    return Verification(len(stored), recompute(round_json, stored))
