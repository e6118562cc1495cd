"""The seeded reward catalogue (the contract's examples), created through the rewards API."""

from __future__ import annotations

from typing import Any

import httpx

CATALOGUE: list[dict[str, Any]] = [
    {
        "reward_id": "daily-goods",
        "name": "日用品礼包 Daily goods pack",
        "kind": "instant",
        "cost_points": 50,
        "description": "Rice, oil and tissues from the street office's partner shop.",
        "initial_stock": 500,
    },
    {
        "reward_id": "summer-camp",
        "name": "子女暑期夏令营 Summer camp place",
        "kind": "instant",
        "cost_points": 400,
        "min_star_level": 1,
        "per_member_limit": 1,
        "initial_stock": 30,
        "description": "A two-week place at the district's summer camp for a rider's child.",
    },
    {
        "reward_id": "accident-insurance",
        "name": "一年意外险 A year of accident insurance",
        "kind": "instant",
        "cost_points": 300,
        "per_member_limit": 1,
        "initial_stock": 200,
        "description": "Twelve months of on-the-road accident cover.",
    },
    {
        "reward_id": "health-checkup",
        "name": "医院体检套餐 Hospital check-up",
        "kind": "instant",
        "cost_points": 250,
        "per_member_limit": 1,
        "initial_stock": 100,
        "description": "A full health check-up at a district hospital.",
    },
    {
        "reward_id": "quality-school-place",
        "name": "优质学位 Quality-school place",
        "kind": "allocation",
        "cost_points": 1500,
        "min_star_level": 4,
        "per_member_limit": 1,
        "description": "A place at a quality school for a star rider's child, allocated by rank.",
    },
    {
        "reward_id": "housing-quota",
        "name": "保障房名额 Subsidised-housing quota",
        "kind": "allocation",
        "cost_points": 2500,
        "min_star_level": 5,
        "per_member_limit": 1,
        "description": "A subsidised-housing quota for the best-ranked star riders.",
    },
]


def seed_catalogue(base_url: str, operator_token: str) -> tuple[int, int]:
    """Create each reward unless it exists; returns (created, already there)."""
    created = existing = 0
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {operator_token}"}, timeout=10) as http:
        for reward in CATALOGUE:
            r = http.post("/v1/rewards", json=reward)
            if r.status_code == 201:
                created += 1
            elif r.status_code == 409:
                existing += 1
            else:
                r.raise_for_status()
    return created, existing
