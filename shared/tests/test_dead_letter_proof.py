"""The dead letter's provenance proof (kernel dead_letter_proof.py): what `incentives dlq replay`
re-publishes only with. A proof made for a dead letter verifies for it, and for nothing that differs
from it in what the replay writes or what its marker says; the engine writes one on every dead letter
when it has the replay key, and none without.

tests/ops/test_dlq_proof.py plays it on the stack: a forged `.dlq` record refused by the CLI.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from incentives_kernel import dead_letter_proof as proof
from incentives_kernel.outbox import decode_header

from shared.tests.test_engine import TOPIC, FakeConn, Records, World
from shared.tests.test_engine_replay import KEY, checked, dead_credit

OTHER_KEY = "o" * 40

Headers = list[tuple[str, bytes]]


def dead_letter(
    *,
    service: str = "points",
    topic: str = TOPIC,
    partition: int = 0,
    offset: int = 7,
    record_key: bytes | None = b"m-1",
    value: bytes = b'{"id":"e1"}',
    own: Sequence[tuple[str, bytes]] = (),
    key: str = KEY,
) -> Headers:
    """The headers a dead letter of that record carries, as `Core.dead_letter` writes them."""
    return [
        *own,
        ("error.class", b"PermanentError"),
        ("error.reason", b"not_resolved"),
        ("error.message", b"why"),
        ("error.service", service.encode()),
        ("original.topic", topic.encode()),
        ("original.partition", str(partition).encode()),
        ("original.offset", str(offset).encode()),
        ("x-dead-lettered-ts", b"1764979200000"),
        *proof.prove(
            key,
            service=service,
            topic=topic,
            partition=partition,
            offset=offset,
            record_key=record_key,
            value=value,
            headers=list(own),
        ),
    ]


def refusal(headers: Headers, *, value: bytes = b'{"id":"e1"}', record_key: bytes | None = b"m-1", **kw: str) -> str:
    """The reason `check` refuses with (fails the test if it accepts)."""
    with pytest.raises(proof.Refused) as refused:
        proof.check(
            kw.get("key", KEY), topic=kw.get("topic", TOPIC), record_key=record_key, value=value, headers=headers
        )
    return refused.value.reason


def replace(headers: Headers, name: str, value: bytes) -> Headers:
    """The headers with the last `name` (the engine's own) set to `value`."""
    at = max(i for i, (k, _) in enumerate(headers) if k == name)
    return [*headers[:at], (name, value), *headers[at + 1 :]]


# ------------------------------------------------------------------------------------------ properties

names = st.sampled_from(["webhook-id", "webhook-signature", "webhook-timestamp", "ce_type", "content-type", "trace"])
own_headers = st.lists(st.tuples(names, st.binary(max_size=24)), max_size=5)
keys = st.none() | st.binary(min_size=1, max_size=16)
records = st.fixed_dictionaries(
    {
        "service": st.sampled_from(["reports", "points", "rewards", "notify"]),
        "partition": st.integers(0, 63),
        "offset": st.integers(0, 2**62),
        "record_key": keys,
        "value": st.binary(min_size=1, max_size=200),
        "own": own_headers,
    }
)


@given(records)
@settings(max_examples=200, deadline=None)
def test_a_proof_verifies_for_its_dead_letter_and_says_where_it_came_from(r: dict) -> None:
    headers = dead_letter(**r)
    got = proof.check(KEY, topic=TOPIC, record_key=r["record_key"], value=r["value"], headers=headers)
    assert got == proof.Proven(r["service"], TOPIC, r["partition"], r["offset"])
    # What a replay re-publishes is exactly the record's own headers.
    assert proof.replayable_headers(headers) == list(r["own"])


@given(records, st.data())
@settings(max_examples=300, deadline=None)
def test_any_change_to_what_the_replay_writes_or_names_fails_the_proof(r: dict, data: st.DataObject) -> None:
    headers = dead_letter(**r)
    value, record_key = r["value"], r["record_key"]
    change = data.draw(
        st.sampled_from(["value", "key", "header value", "header added", "header dropped", "service", "position"])
    )
    if change == "value":
        value = data.draw(st.binary(min_size=1, max_size=200).filter(lambda v: v != r["value"]))
    elif change == "key":
        record_key = data.draw(keys.filter(lambda k: (k or b"") != (r["record_key"] or b"")))
    elif change == "header value" and r["own"]:
        i = data.draw(st.integers(0, len(r["own"]) - 1))
        name, old = headers[i]
        headers[i] = (name, old + b"!")
    elif change == "header added" or (change in ("header value", "header dropped") and not r["own"]):
        headers.insert(0, ("webhook-signature", b"v1,forged"))
    elif change == "header dropped":
        del headers[data.draw(st.integers(0, len(r["own"]) - 1))]
    elif change == "service":
        other = data.draw(
            st.sampled_from(["reports", "points", "rewards", "notify"]).filter(lambda s: s != r["service"])
        )
        headers = replace(headers, "error.service", other.encode())
    else:
        field, was = data.draw(
            st.sampled_from([("original.partition", r["partition"]), ("original.offset", r["offset"])])
        )
        headers = replace(headers, field, str(was + 1).encode())
    assert refusal(headers, value=value, record_key=record_key) == "bad_proof"


def test_the_proof_covers_the_order_of_the_records_headers() -> None:
    own = [("webhook-id", b"e1"), ("webhook-signature", b"v1,abc")]
    assert refusal([*reversed(own), *dead_letter(own=own)[2:]]) == "bad_proof"


def test_no_key_and_an_empty_key_are_the_same_record_key() -> None:
    headers = dead_letter(record_key=None)
    assert proof.check(KEY, topic=TOPIC, record_key=b"", value=b'{"id":"e1"}', headers=headers).offset == 7


# ------------------------------------------------------------------------------------------ each refusal


def test_a_record_without_a_proof_is_refused_as_not_a_services() -> None:
    forged = [h for h in dead_letter() if h[0] != proof.HEADER]
    assert refusal(forged) == "no_proof"
    assert (
        proof.prove("", service="points", topic=TOPIC, partition=0, offset=1, record_key=None, value=b"", headers=[])
        == []
    )


def test_a_proof_made_with_another_key_is_refused() -> None:
    assert refusal(dead_letter(key=OTHER_KEY)) == "bad_proof"
    assert refusal(dead_letter(), key=OTHER_KEY) == "bad_proof"


def test_a_genuine_dead_letter_goes_back_to_its_own_topic_only() -> None:
    genuine = dead_letter(topic="incentives.members.v1")
    # Replayed into another topic as it is: its original.topic says where it belongs.
    assert refusal(genuine, topic="incentives.points.v1") == "other_topic"
    # With original.topic rewritten to the target: the proof is over the topic it was read from.
    moved = replace(genuine, "original.topic", b"incentives.points.v1")
    assert refusal(moved, topic="incentives.points.v1") == "bad_proof"
    assert proof.check(KEY, topic="incentives.members.v1", record_key=b"m-1", value=b'{"id":"e1"}', headers=genuine)


def test_the_engines_headers_count_not_those_the_record_came_with() -> None:
    """A producer's own `original.topic`, `error.service` or proof header precede the engine's and change nothing."""
    decoys = [
        ("original.topic", b"incentives.points.v1"),
        ("error.service", b"rewards"),
        (proof.HEADER, b"v1,AAAA"),
        ("X-Replay-Mac", b"v1,captured"),
    ]
    headers = dead_letter(own=decoys)
    got = proof.check(KEY, topic=TOPIC, record_key=b"m-1", value=b'{"id":"e1"}', headers=headers)
    assert (got.service, got.topic) == ("points", TOPIC)
    assert proof.replayable_headers(headers) == []  # error.*, original.* and x- (any case) never travel on


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda h: [x for x in h if x[0] != "error.service"], "malformed"),
        (lambda h: [x for x in h if x[0] != "original.offset"], "malformed"),
        (lambda h: replace(h, "original.offset", b"-1"), "malformed"),
        (lambda h: replace(h, "original.partition", "٣".encode()), "malformed"),  # a digit, but not ASCII
        (lambda h: replace(h, proof.HEADER, b"v2,AAAA"), "malformed"),
        (lambda h: replace(h, proof.HEADER, b"v1,not base64 at all"), "bad_proof"),
        (lambda h: replace(h, "original.topic", b"incentives.points.v1"), "other_topic"),
    ],
)
def test_each_malformed_dead_letter_is_refused_with_its_reason(change, reason: str) -> None:  # type: ignore[no-untyped-def]
    assert refusal(change(dead_letter())) == reason


def test_a_dead_letter_whose_value_was_too_large_to_keep_has_nothing_to_replay() -> None:
    headers = dead_letter(own=[("original.size", b"2000000"), ("original.sha256", b"ab" * 32)])
    assert refusal(headers, value=b"") == "value_not_kept"


def test_checking_needs_the_key_and_the_shape_alone_does_not() -> None:
    with pytest.raises(ValueError, match="replay key"):
        proof.check("", topic=TOPIC, record_key=None, value=b"x", headers=dead_letter())
    claimed, _ = proof.shape(topic=TOPIC, value=b"x", headers=dead_letter(key=OTHER_KEY))
    assert claimed == proof.Proven("points", TOPIC, 0, 7)  # a dry run without the key: not verified


# ------------------------------------------------------------------------------------------ the engine


async def test_the_engine_proves_each_dead_letter_it_writes_when_it_has_the_key() -> None:
    make, world = Records(), World(FakeConn())
    credit = await dead_credit(world, checked(world), make)
    [row] = [r for r in world.conn.state.outbox if r.topic == TOPIC + ".dlq"]
    headers = [decode_header(h) for h in row.headers]
    assert headers[-1][0] == proof.HEADER  # last, after the engine's other headers
    got = proof.check(KEY, topic=TOPIC, record_key=row.key, value=row.value, headers=headers)
    assert got == proof.Proven("test", TOPIC, credit.partition, credit.offset)


async def test_without_the_key_the_engine_writes_no_proof() -> None:
    make, world = Records(), World(FakeConn())
    await dead_credit(world, checked(world, key=""), make)
    [row] = [r for r in world.conn.state.outbox if r.topic == TOPIC + ".dlq"]
    assert proof.HEADER not in {name for name, *_ in row.headers}
