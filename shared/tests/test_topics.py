"""The topic list: unique names, one DLQ twin per topic, the contract's inbound/outbound topics."""

from __future__ import annotations

import pytest
from incentives_kernel import topics as t


def test_names_are_unique() -> None:
    names = [s.name for s in t.ALL_TOPICS]
    assert len(names) == len(set(names))


def test_every_non_dlq_topic_has_exactly_one_dlq_twin() -> None:
    by_name = {s.name: s for s in t.ALL_TOPICS}
    base = [s for s in t.ALL_TOPICS if s.role != "dlq"]
    dlqs = [s for s in t.ALL_TOPICS if s.role == "dlq"]
    assert len(base) == len(dlqs)
    for s in base:
        twin = by_name[t.dlq_topic(s.name)]
        assert twin.role == "dlq"
        assert twin.key == s.key
        assert twin.retention_ms >= s.retention_ms
    for d in dlqs:
        assert d.name.endswith(t.DLQ_SUFFIX)
        assert d.name.removesuffix(t.DLQ_SUFFIX) in by_name
        assert not d.name.removesuffix(t.DLQ_SUFFIX).endswith(t.DLQ_SUFFIX)


def test_dlq_topic_name() -> None:
    assert t.dlq_topic("incentives.reports.v1") == "incentives.reports.v1.dlq"


@pytest.mark.parametrize(
    ("name", "key", "role"),
    [
        ("incentives.members.v1", "member_id", "inbound"),
        ("incentives.reports.v1", "report_id", "inbound"),
        ("incentives.volunteer.v1", "member_id", "inbound"),
        ("incentives.redemptions.v1", "member_id", "inbound"),
        ("incentives.directory.v1", "department_id", "inbound"),
        ("incentives.points.v1", "member_id", "outbound"),
        ("incentives.rewards.v1", "member_id", "outbound"),
        ("incentives.notifications.v1", "member_id", "outbound"),
    ],
)
def test_contract_topics_and_keys(name, key, role) -> None:
    spec = t.spec(name)
    assert (spec.key, spec.role) == (key, role)
    assert spec.partitions >= 1


def test_spec_of_unknown_topic() -> None:
    with pytest.raises(KeyError):
        t.spec("incentives.unknown.v1")


def test_roles_are_known() -> None:
    assert {s.role for s in t.ALL_TOPICS} <= {"inbound", "outbound", "internal", "dlq"}


def test_every_event_type_has_exactly_one_topic() -> None:
    from incentives_kernel.events import ALL_TYPES

    listed = [typ for types in t.TYPES.values() for typ in types]
    assert len(listed) == len(set(listed)), "a type is listed under two topics"
    assert set(listed) == set(ALL_TYPES)
    assert set(t.TYPES) <= {s.name for s in t.ALL_TOPICS if s.role != "dlq"}
    assert t.topic_of("points.credited") == t.POINTS
    with pytest.raises(KeyError):
        t.topic_of("points.unknown")
