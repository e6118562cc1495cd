"""Poison records, generated with Hypothesis: each one must be dead-lettered by every consumer of
its topic, with a reason, while the consumer keeps going.

Kinds: bytes that are not JSON, fields of the wrong type, unknown enum values and event types,
strings over their limits, control characters in identifiers, and a record over 1 MiB.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as fixed_seed
from hypothesis import strategies as st
from incentives_kernel import topics
from incentives_ops.demo import CATEGORIES, OCCUPATIONS, member_registered, report_submitted

from tests.faults.load import Record

SOURCE = "/faults/poison"


def _event(topic: str, n: int) -> dict[str, Any]:
    """A valid event for `topic`, to be broken."""
    if topic == topics.MEMBERS:
        event = member_registered(f"pm-{n}", "nanqu")
    else:
        event = report_submitted(f"pr-{n}", f"pm-{n}", "nanqu", "other")
    return {**event, "source": SOURCE, "id": str(uuid.UUID(int=n))}


def _key_field(topic: str) -> str:
    return "member_id" if topic == topics.MEMBERS else "report_id"


WRONG_VALUES = st.one_of(
    st.none(),
    st.lists(st.integers(), min_size=1, max_size=3),
    st.dictionaries(st.sampled_from(["x", "y"]), st.integers(), min_size=1, max_size=2),
)
KNOWN_ENUMS = {*CATEGORIES, *OCCUPATIONS, "other"}
CONTROL = st.text(st.characters(min_codepoint=0, max_codepoint=31), min_size=1, max_size=8)


@st.composite
def poison(draw: st.DrawFn) -> Record:
    topic = draw(st.sampled_from([topics.MEMBERS, topics.REPORTS]))
    n = draw(st.integers(min_value=1, max_value=2**62))
    event = _event(topic, n)
    data = event["data"]
    kind = draw(st.sampled_from(["not_json", "wrong_type", "unknown_enum", "unknown_type", "huge", "control"]))
    if kind == "not_json":
        value = b"{" + draw(st.binary(max_size=300))
        return Record(topic, f"poison-{n}", value, "", "", poison=True)
    if kind == "wrong_type":
        field = draw(st.sampled_from(sorted(k for k in data if k not in ("platform", "locale", "description"))))
        data[field] = draw(WRONG_VALUES)
    elif kind == "unknown_enum":
        field = "occupation" if topic == topics.MEMBERS else "category"
        data[field] = draw(st.text(min_size=1, max_size=20).filter(lambda s: s not in KNOWN_ENUMS))
    elif kind == "unknown_type":
        event["type"] = draw(st.from_regex(r"\Ax[a-z]{3,12}\.[a-z_]{3,12}\Z"))  # no known type starts with x
    elif kind == "huge":
        field = "name" if topic == topics.MEMBERS else "description"
        data[field] = "长" * draw(st.integers(min_value=2_001, max_value=200_000))
    else:
        data[_key_field(topic)] = "id" + draw(CONTROL)
    return Record(topic, f"poison-{n}", json.dumps(event).encode(), SOURCE, event["id"], poison=True)


def generated(n: int, seed: int) -> list[Record]:
    """`n` poison records drawn by Hypothesis (reproducible by `seed`)."""
    found: list[Record] = []

    @fixed_seed(seed)
    @settings(
        max_examples=n,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(poison())
    def collect(record: Record) -> None:
        found.append(record)

    collect()
    return found


def explicit() -> list[Record]:
    """The cases every run must include, whatever Hypothesis draws."""
    nul = _event(topics.MEMBERS, 2**62 + 2)
    nul["data"]["member_id"] = "m\x00\x07\x1b"  # NUL and other control characters
    bad_time = _event(topics.REPORTS, 2**62 + 3)
    bad_time["time"] = "yesterday"
    no_source = _event(topics.MEMBERS, 2**62 + 4)
    del no_source["source"]
    return [
        Record(topics.MEMBERS, "poison-nul", json.dumps(nul).encode(), SOURCE, nul["id"], poison=True),
        Record(topics.REPORTS, "poison-time", json.dumps(bad_time).encode(), SOURCE, bad_time["id"], poison=True),
        Record(topics.MEMBERS, "poison-nosrc", json.dumps(no_source).encode(), "", "", poison=True),
        Record(topics.REPORTS, "poison-empty", b"", "", "", poison=True),
    ]


def oversized() -> Record:
    """A report over 1 MiB (Tansu accepts it; the contract's limit is 1 MiB)."""
    big = _event(topics.REPORTS, 2**62 + 1)
    big["data"]["description"] = "x" * (1024 * 1024 + 10_000)
    return Record(topics.REPORTS, "poison-big", json.dumps(big).encode(), SOURCE, big["id"], poison=True)
