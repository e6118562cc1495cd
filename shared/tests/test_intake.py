"""The intake check: source allow-list per topic and type, and signatures with a replay window."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from incentives_kernel import replay, topics
from incentives_kernel.envelope import parse_event
from incentives_kernel.errors import InvalidEvent
from incentives_kernel.events import ALL_TYPES
from incentives_kernel.intake import (
    Intake,
    SigningKeys,
    SourcePolicy,
    compile_pattern,
    parse_exclusive,
    pattern_covers,
    proof_error,
    proof_problems,
    sign,
)

from .conftest import PHONE, SAMPLE_DATA, cloudevent, to_bytes

NOW = 1_800_000_000.0  # 2027-01-15T08:00Z
DISPATCH_KEY = "whsec_" + base64.b64encode(b"dispatch-key-2026-11-xxxxxxxxxxx").decode()
OLD_DISPATCH_KEY = "whsec_" + base64.b64encode(b"dispatch-key-2026-05-xxxxxxxxxxx").decode()
WRONG_KEY = "whsec_" + base64.b64encode(b"a-wrong-key-of-some-length-xxxxx").decode()
REPLAY_KEY = "replay-key-for-the-tests-" + "r" * 16

# What a deployment like docker-compose's says: the topics its ACLs give to one principal each.
PRODUCTION_EXCLUSIVE = parse_exclusive(
    "incentives.volunteer.v1=volunteer-platform, incentives.redemptions.v1=rider-app-gateway,"
    "incentives.reports.lifecycle.v1=reports, incentives.points.commands.v1=rewards,"
    "incentives.points.replies.v1=points, incentives.points.v1=points, incentives.rewards.v1=rewards,"
    "incentives.notifications.v1=notify"
)
# ... and the sources that share a topic with others sign.
PRODUCTION_KEYS = {
    "/member-registry": [DISPATCH_KEY],
    "/member-registry/**": [DISPATCH_KEY],
    "/rider-app-gateway": [DISPATCH_KEY],
    "/district/*/rider-app": [DISPATCH_KEY],
    "/dispatch": [DISPATCH_KEY],
    "/dispatch/**": [DISPATCH_KEY],
    "/district/*/dispatch": [DISPATCH_KEY],
    "/district/*/department/*": [DISPATCH_KEY],
}


def event(type_: str, source: str, **attrs: object) -> tuple[bytes, object]:
    raw = to_bytes(cloudevent(type_, source=source, **attrs))
    return raw, parse_event(raw, ALL_TYPES)


@pytest.fixture
def intake() -> Intake:
    return Intake(SourcePolicy.load(), clock=lambda: NOW)


@pytest.mark.parametrize(
    ("topic", "type_", "source"),
    [
        (topics.MEMBERS, "member.registered", "/district/nanqu/rider-app"),  # the contract's example
        (topics.MEMBERS, "member.deactivated", "/member-registry"),
        (topics.REPORTS, "report.submitted", "/district/beiqu/rider-app"),
        (topics.REPORTS, "report.rated", "/rider-app-gateway"),
        (topics.REPORTS, "report.status_changed", "/district/nanqu/dispatch"),  # what the demo sends
        (topics.REPORTS, "report.status_changed", "/dispatch/grid/nanqu"),
        (topics.VOLUNTEER, "volunteer.attendance_confirmed", "/volunteer-platform"),
        (topics.REDEMPTIONS, "redemption.requested", "/rider-app-gateway"),
        (topics.POINTS, "points.credited", "/incentives/points"),
        (topics.POINTS_COMMANDS, "points.place_hold", "/incentives/rewards"),
        (topics.POINTS_REPLIES, "points.hold_placed", "/incentives/points"),
        (topics.REPORTS_LIFECYCLE, "report.verified", "/incentives/reports"),
        (topics.REPORTS, "need.submitted", "/district/xincheng/rider-app"),
        (topics.REPORTS, "need.rated", "/rider-app-gateway"),
        (topics.REPORTS, "need.status_changed", "/district/nanqu/dispatch"),
        (topics.REPORTS, "need.status_changed", "/district/nanqu/department/street-office"),
        (topics.DIRECTORY, "department.registered", "/department-registry"),
        (topics.DIRECTORY, "department.updated", "/district/beiqu/department-registry"),
        (topics.REPORTS_LIFECYCLE, "need.lifecycle_changed", "/incentives/reports"),
    ],
)
def test_the_contract_and_demo_sources_are_admitted(intake: Intake, topic: str, type_: str, source: str) -> None:
    assert intake.policy.allows(topic, type_, source)


@pytest.mark.parametrize(
    ("topic", "type_", "source"),
    [
        # A rider (app) may not decide their own report's fate: only dispatch may.
        (topics.REPORTS, "report.status_changed", "/district/nanqu/rider-app"),
        (topics.REPORTS, "report.status_changed", "/rider-app-gateway"),
        (topics.MEMBERS, "member.registered", "/volunteer-platform"),
        (topics.VOLUNTEER, "volunteer.attendance_confirmed", "/district/nanqu/rider-app"),
        (topics.REPORTS, "report.submitted", "/district/nanqu/rider-app/../dispatch"),
        (topics.REPORTS, "report.submitted", "/district/a/b/rider-app"),  # `*` is one segment
        (topics.REPORTS, "report.submitted", "/district//rider-app"),
        (topics.REPORTS, "report.submitted", "https://evil.example/district/x/rider-app"),
        # Internal topics: only our own services, never an outside system.
        (topics.POINTS_COMMANDS, "points.place_hold", "/rider-app-gateway"),
        (topics.POINTS_COMMANDS, "points.place_hold", "/incentives/points"),
        (topics.REPORTS_LIFECYCLE, "report.verified", "/district/nanqu/dispatch"),
        # A rider may ask for help and rate it, never decide it; nobody but the registry names departments.
        (topics.REPORTS, "need.status_changed", "/district/nanqu/rider-app"),
        (topics.REPORTS, "need.status_changed", "/rider-app-gateway"),
        (topics.DIRECTORY, "department.registered", "/district/nanqu/dispatch"),
        (topics.DIRECTORY, "department.registered", "/district/nanqu/department/street-office"),
        (topics.DIRECTORY, "department.registered", "/rider-app-gateway"),
        (topics.REPORTS, "department.registered", "/department-registry"),  # only on its own topic
        (topics.DIRECTORY, "need.submitted", "/rider-app-gateway"),
        ("incentives.unknown.v1", "member.registered", "/member-registry"),  # a topic not listed admits nothing
    ],
)
def test_anything_else_is_refused(intake: Intake, topic: str, type_: str, source: str) -> None:
    assert not intake.policy.allows(topic, type_, source)


def test_a_refusal_is_an_invalid_event_naming_topic_type_and_source_but_no_data(intake: Intake) -> None:
    raw, parsed = event("report.status_changed", "/district/nanqu/rider-app")
    with pytest.raises(InvalidEvent) as err:
        intake.check(topics.REPORTS, parsed, raw, [])
    assert err.value.reason == "source_not_allowed"
    assert "report.status_changed" in err.value.message and topics.REPORTS in err.value.message
    assert "/district/nanqu/rider-app" in err.value.message
    assert "已派员处理" not in err.value.message  # the note: data is never quoted


@pytest.mark.parametrize("attr", ["id", "source", "subject"])
def test_a_phone_in_an_envelope_attribute_is_refused_without_quoting_it(attr: str) -> None:
    value = f"/district/{PHONE}/x" if attr == "source" else f"e-{PHONE}"
    with pytest.raises(InvalidEvent) as err:
        parse_event(to_bytes(cloudevent("member.registered", **{attr: value})), ALL_TYPES)
    assert err.value.reason == "not_cloudevent" and attr in err.value.message
    assert PHONE not in err.value.message


def test_every_topic_of_the_system_has_rules() -> None:
    policy = SourcePolicy.load()
    listed = {t.name for t in topics.ALL_TOPICS if t.role != "dlq"}
    assert listed == set(policy.rules)


def test_extra_sources_extend_every_rule_and_a_file_replaces_the_default(tmp_path: Path) -> None:
    policy = SourcePolicy.load(extra_sources=("/tests/**",))
    assert policy.allows(topics.POINTS_COMMANDS, "points.place_hold", "/tests/holds")
    assert not SourcePolicy.load().allows(topics.POINTS_COMMANDS, "points.place_hold", "/tests/holds")
    f = tmp_path / "sources.json"
    f.write_text(json.dumps({"version": 2, "topics": {topics.MEMBERS: {"member.*": ["/registry"]}}}))
    own = SourcePolicy.load(f)
    assert own.version == 2 and own.allows(topics.MEMBERS, "member.updated", "/registry")
    assert not own.allows(topics.MEMBERS, "member.updated", "/district/nanqu/rider-app")


@pytest.mark.parametrize("bad", ["district/x", "*", "/a/**/b", "/a/x*"])
def test_bad_patterns_are_refused_at_load(bad: str) -> None:
    with pytest.raises(ValueError, match=r"source pattern|bare|may only end|whole segment"):
        compile_pattern(bad)


# ------------------------------------------------------------------------------------------ signatures


@pytest.fixture
def signed_intake() -> Intake:
    keys = SigningKeys.from_json(json.dumps({"/district/*/dispatch": [DISPATCH_KEY, OLD_DISPATCH_KEY]}))
    return Intake(SourcePolicy.load(), keys, tolerance_s=300, clock=lambda: NOW, replay_key=REPLAY_KEY)


def check_signed(intake: Intake, headers, *, body_override: bytes | None = None) -> str | None:
    raw, parsed = event("report.status_changed", "/district/nanqu/dispatch")
    try:
        intake.check(topics.REPORTS, parsed, body_override or raw, headers)
    except InvalidEvent as exc:
        return exc.reason
    return None


def dispatch_raw() -> bytes:
    return event("report.status_changed", "/district/nanqu/dispatch")[0]


def test_a_good_signature_passes_with_either_key_while_rotating(signed_intake: Intake) -> None:
    for key in (DISPATCH_KEY, OLD_DISPATCH_KEY):
        assert check_signed(signed_intake, sign(key, "evt-0001", dispatch_raw(), ts=int(NOW) - 10)) is None


def test_several_signatures_one_of_which_is_good(signed_intake: Intake) -> None:
    good = dict(sign(DISPATCH_KEY, "evt-0001", dispatch_raw(), ts=int(NOW)))
    other = dict(sign(WRONG_KEY, "evt-0001", dispatch_raw(), ts=int(NOW)))
    both = other["webhook-signature"] + b" " + good["webhook-signature"]
    headers = [("webhook-id", good["webhook-id"]), ("webhook-timestamp", good["webhook-timestamp"])]
    assert check_signed(signed_intake, [*headers, ("webhook-signature", both)]) is None


def _without(headers: list[tuple[str, bytes]], name: str) -> list[tuple[str, bytes]]:
    return [(k, v) for k, v in headers if k != name]


def _with(headers: list[tuple[str, bytes]], name: str, value: bytes) -> list[tuple[str, bytes]]:
    return [*_without(headers, name), (name, value)]


def test_missing_wrong_tampered_and_old_signatures(signed_intake: Intake) -> None:
    raw = dispatch_raw()
    good = sign(DISPATCH_KEY, "evt-0001", raw, ts=int(NOW))
    assert check_signed(signed_intake, []) == "signature_missing"
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        assert check_signed(signed_intake, _without(good, name)) == "signature_missing"
    assert check_signed(signed_intake, sign(WRONG_KEY, "evt-0001", raw, ts=int(NOW))) == "bad_signature"
    # The message id is signed: a signature made for another id does not carry over ...
    assert check_signed(signed_intake, _with(good, "webhook-id", b"evt-0002")) == "bad_signature"
    # ... and a record's message id is its event's id, even when signed as another.
    assert check_signed(signed_intake, sign(DISPATCH_KEY, "evt-0002", raw, ts=int(NOW))) == "bad_signature"
    tampered = raw.replace(b"accepted", b"resolved")
    assert check_signed(signed_intake, good, body_override=tampered) == "bad_signature"
    # The timestamp is signed: moving it to pass the window breaks the signature.
    old = sign(DISPATCH_KEY, "evt-0001", raw, ts=int(NOW) - 3600)
    assert check_signed(signed_intake, _with(old, "webhook-timestamp", str(int(NOW)).encode())) == "bad_signature"
    assert check_signed(signed_intake, _with(good, "webhook-timestamp", b"soon")) == "bad_signature"
    assert check_signed(signed_intake, _with(good, "webhook-timestamp", b"1e9")) == "bad_signature"
    assert check_signed(signed_intake, _with(good, "webhook-signature", b"v0,abc garbage ,")) == "bad_signature"
    assert check_signed(signed_intake, _with(good, "webhook-id", b"evt.0001")) == "bad_signature"  # no '.' in ids
    assert check_signed(signed_intake, sign(DISPATCH_KEY, "evt-0001", raw, ts=int(NOW) - 301)) == "signature_expired"
    assert check_signed(signed_intake, sign(DISPATCH_KEY, "evt-0001", raw, ts=int(NOW) + 301)) == "signature_expired"


def test_no_more_than_eight_signatures_are_tried(signed_intake: Intake) -> None:
    raw = dispatch_raw()
    good = dict(sign(DISPATCH_KEY, "evt-0001", raw, ts=int(NOW)))
    wrong = dict(sign(WRONG_KEY, "evt-0001", raw, ts=int(NOW)))["webhook-signature"]
    many = b" ".join([*[wrong] * 8, good["webhook-signature"]])
    assert check_signed(signed_intake, _with(list(good.items()), "webhook-signature", many)) == "bad_signature"


def test_sources_without_keys_need_no_signature(signed_intake: Intake) -> None:
    raw, parsed = event("report.submitted", "/district/nanqu/rider-app")
    signed_intake.check(topics.REPORTS, parsed, raw, [])


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('["k"]', "JSON object"),
        ("{", "not JSON"),
        ('{"/x": ["whsec_c2hvcnQ="]}', "24 to 64 bytes"),  # 5 bytes
        ('{"/x": []}', "non-empty list"),
        ('{"/x": ["a-long-plain-text-key-of-old"]}', "whsec_"),  # the old plain keys: one scheme now
        ('{"/x": ["whsec_not base64!!"]}', "base64"),
        ('{"x": ["whsec_' + "A" * 43 + '="]}', "must start"),
    ],
)
def test_bad_key_config_is_refused(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        SigningKeys.from_json(text)


# ------------------------------------------------------------------------------------- who may decide


@pytest.mark.parametrize(
    ("outer", "inner", "covered"),
    [
        ("/dispatch", "/dispatch", True),
        ("/dispatch/**", "/dispatch/grid/nanqu", True),
        ("/dispatch/**", "/dispatch/*", True),
        ("/dispatch/**", "/dispatch/**", True),
        ("/dispatch/**", "/dispatch", False),  # `**` needs something after the slash
        ("/district/*/dispatch", "/district/nanqu/dispatch", True),
        ("/district/*/dispatch", "/district/*/dispatch", True),
        ("/district/nanqu/dispatch", "/district/*/dispatch", False),
        ("/district/*/dispatch", "/district/**", False),
        ("/district/**", "/district/*/dispatch", True),
        ("/district/*", "/district/*/dispatch", False),
        ("/dispatch", "/dispatch/**", False),
    ],
)
def test_which_signing_patterns_cover_which_source_patterns(outer: str, inner: str, covered: bool) -> None:
    assert pattern_covers(outer, inner) is covered
    # Cross-checked by matching: a covered pattern's example sources all match the outer pattern.
    example = inner.replace("**", "x/y").replace("*", "seg")
    if covered:
        assert compile_pattern(outer).fullmatch(example)


def test_the_packaged_decisions_are_provable_by_nobody_until_the_deployment_says_how() -> None:
    problems = proof_problems(SourcePolicy.load(), SigningKeys())
    assert "report.status_changed on incentives.reports.v1 from '/dispatch'" in problems
    assert "report.status_changed on incentives.reports.v1 from '/district/*/dispatch'" in problems
    assert any(p.startswith("member.* on incentives.members.v1") for p in problems)
    assert any(p.startswith("volunteer.* on incentives.volunteer.v1") for p in problems)
    assert not any("report.submitted" in p for p in problems), "a submission decides nothing"
    text = proof_error(problems)
    assert "INCENTIVES_SOURCE_SIGNING_KEYS" in text and "INCENTIVES_EXCLUSIVE_TOPICS" in text


def test_signing_every_deciding_source_or_declaring_topics_exclusive_proves_everything() -> None:
    policy = SourcePolicy.load(exclusive=PRODUCTION_EXCLUSIVE)
    assert policy.exclusive[topics.VOLUNTEER] == "volunteer-platform"
    assert policy.allows(topics.REPORTS, "report.status_changed", "/dispatch"), "the packaged topics still apply"
    keys = SigningKeys.from_json(json.dumps(PRODUCTION_KEYS))
    assert proof_problems(policy, keys) == []
    partial = SigningKeys.from_json(json.dumps({k: v for k, v in PRODUCTION_KEYS.items() if "dispatch" not in k}))
    left = proof_problems(policy, partial)
    assert left and all(p.split()[0] in ("report.status_changed", "need.status_changed") for p in left)


def test_a_deployment_may_add_decisions_but_never_drop_one(tmp_path: Path) -> None:
    f = tmp_path / "deploy.toml"
    f.write_text('decisions = ["report.submitted"]\n')
    policy = SourcePolicy.load(f)
    assert policy.is_decision("report.submitted") and policy.is_decision("report.status_changed")
    assert policy.is_decision("need.status_changed"), "a type another service adds is data, not code"
    assert not policy.is_decision("report.overdue")


def test_exclusive_topics_must_be_ones_with_rules_and_well_written() -> None:
    with pytest.raises(ValueError, match="no rules"):
        SourcePolicy.load(exclusive={"incentives.nowhere.v1": "x"})
    for bad in ("incentives.volunteer.v1", "=x", "incentives.volunteer.v1=", "a=x,a=y"):
        with pytest.raises(ValueError, match="topic"):
            parse_exclusive(bad)


def test_in_production_an_unsigned_decision_is_unproven_unless_its_topic_is_exclusive() -> None:
    strict = Intake(SourcePolicy.load(), clock=lambda: NOW, require_proof=True)
    raw, parsed = event("report.status_changed", "/dispatch")
    with pytest.raises(InvalidEvent) as err:
        strict.check(topics.REPORTS, parsed, raw, [])
    assert err.value.reason == "unproven_source" and "report.status_changed" in err.value.message
    # What decides nothing needs no proof; the development run accepts it unproven.
    submitted_raw, submitted = event("report.submitted", "/district/nanqu/rider-app")
    strict.check(topics.REPORTS, submitted, submitted_raw, [])
    Intake(SourcePolicy.load(), clock=lambda: NOW).check(topics.REPORTS, parsed, raw, [])
    exclusive = Intake(SourcePolicy.load(exclusive=PRODUCTION_EXCLUSIVE), clock=lambda: NOW, require_proof=True)
    vraw, volunteer = event("volunteer.attendance_confirmed", "/volunteer-platform")
    exclusive.check(topics.VOLUNTEER, volunteer, vraw, [])


# ------------------------------------------------------------------------------------------------ time


@pytest.mark.parametrize(
    ("attrs", "where"),
    [
        ({"time": "2027-01-15T17:00:00+08:00"}, "time is"),  # NOW is 2027-01-15T16:00+08:00
        ({"data": {**SAMPLE_DATA["member.registered"], "registered_at": "2099-01-01T00:00:00Z"}}, "registered_at"),
    ],
)
def test_a_time_in_the_future_is_refused(intake: Intake, attrs: dict, where: str) -> None:
    raw = to_bytes(cloudevent("member.registered", source="/member-registry", **attrs))
    with pytest.raises(InvalidEvent) as err:
        intake.check(topics.MEMBERS, parse_event(raw, ALL_TYPES), raw, [])
    assert err.value.reason == "time_in_future" and where in err.value.message


def test_a_deadline_may_lie_in_the_future() -> None:
    reply = {
        "specversion": "1.0",
        "id": "h-1",
        "source": "/incentives/points",
        "type": "points.hold_placed",
        "time": "2027-01-15T16:00:00+08:00",
        "datacontenttype": "application/json",
        "data": {
            "hold_id": "h-1",
            "member_id": "m-1",
            "amount": 10,
            "status": "pending",
            "expires_at": "2027-01-16T16:00:00+08:00",
            "occurred_at": "2027-01-15T16:00:00+08:00",
        },
    }
    raw = to_bytes(reply)
    parsed = parse_event(raw, ALL_TYPES)
    assert "expires_at" in type(parsed.data).model_fields
    Intake(SourcePolicy.load(), clock=lambda: NOW).check(topics.POINTS_REPLIES, parsed, raw, [])


def test_the_allowed_skew_is_configurable_and_the_past_is_fine() -> None:
    soon = to_bytes(cloudevent("member.registered", source="/member-registry", time="2027-01-15T16:04:00+08:00"))
    Intake(SourcePolicy.load(), clock=lambda: NOW).check(topics.MEMBERS, parse_event(soon, ALL_TYPES), soon, [])
    tight = Intake(SourcePolicy.load(), clock=lambda: NOW, time_skew_s=60)
    with pytest.raises(InvalidEvent, match="at most 60 s"):
        tight.check(topics.MEMBERS, parse_event(soon, ALL_TYPES), soon, [])
    past = to_bytes(cloudevent("member.registered", source="/member-registry", time="2020-01-01T00:00:00Z"))
    tight.check(topics.MEMBERS, parse_event(past, ALL_TYPES), past, [])


# ----------------------------------------------------------------------------------------- dlq replay


def replay_headers(raw: bytes, *, key: str = REPLAY_KEY, ts: int = int(NOW) - 60, service: str = "reports"):
    return replay.mark(key, service=service, topic=topics.REPORTS, replayed_from="d/0/7", ts=ts, value=raw)


def test_an_operator_replay_keeps_an_old_but_genuine_signature(signed_intake: Intake) -> None:
    raw = dispatch_raw()
    old = sign(DISPATCH_KEY, "evt-0001", raw, ts=int(NOW) - 86_400)
    assert check_signed(signed_intake, old) == "signature_expired"
    assert check_signed(signed_intake, [*old, *replay_headers(raw)]) is None
    forged = sign(WRONG_KEY, "evt-0001", raw, ts=int(NOW) - 86_400)
    assert check_signed(signed_intake, [*forged, *replay_headers(raw)]) == "bad_signature"


def test_a_replay_marker_anyone_can_write_is_refused(signed_intake: Intake) -> None:
    raw = dispatch_raw()
    old = sign(DISPATCH_KEY, "evt-0001", raw, ts=int(NOW) - 86_400)
    # The attack of old: the marker's mere presence waived the signature's age and reopened dead letters.
    assert check_signed(signed_intake, [*old, ("x-replayed-from", b"x.dlq/0/1")]) == "bad_replay_marker"
    assert check_signed(signed_intake, [*old, *replay_headers(raw, key="k" * 40)]) == "bad_replay_marker"
    marker = replay_headers(raw)
    other_body = raw.replace(b"accepted", b"resolved")
    assert check_signed(signed_intake, [*old, *marker], body_override=other_body) == "bad_replay_marker"
    relabelled = [(k, b"points" if k == "x-replay-service" else v) for k, v in marker]
    assert check_signed(signed_intake, [*old, *relabelled]) == "bad_replay_marker"
    stale = replay_headers(raw, ts=int(NOW) - replay.MAX_AGE_S - 1)
    assert check_signed(signed_intake, [*old, *stale]) == "bad_replay_marker"
    # Without a replay key nothing can be a replay.
    keyless = Intake(SourcePolicy.load(), signed_intake.signing, clock=lambda: NOW)
    assert check_signed(keyless, [*old, *marker]) == "bad_replay_marker"


def test_a_genuine_marker_names_the_service_whose_dead_letter_it_was(signed_intake: Intake) -> None:
    raw, parsed = event("report.status_changed", "/district/nanqu/dispatch")
    headers = [*sign(DISPATCH_KEY, "evt-0001", raw, ts=int(NOW)), *replay_headers(raw, service="points")]
    found = signed_intake.check(topics.REPORTS, parsed, raw, headers)
    assert found is not None and found.for_service("points") and not found.for_service("reports")
    assert signed_intake.check(topics.REPORTS, parsed, raw, headers[:3]) is None


# ------------------------------------------------------------------------------ personal data in events

ID_NUMBER = "110101199003071234"


def test_phone_and_identity_numbers_in_free_text_are_masked_before_anything_stores_them() -> None:
    data = {
        **cloudevent("report.submitted")["data"],
        "description": f"call me on {PHONE}, id {ID_NUMBER}",
        "location": {"lat": 31.2, "lon": 121.4, "address": f"门口 {PHONE}"},
    }
    parsed = parse_event(to_bytes(cloudevent("report.submitted", data)), ALL_TYPES).data
    dumped = parsed.model_dump_json()
    assert PHONE not in dumped and ID_NUMBER not in dumped
    assert "138****5678" in dumped and "110101********1234" in dumped


def test_the_personal_fields_themselves_are_kept_for_the_member_use_case_and_never_shown() -> None:
    data = {**cloudevent("member.registered")["data"], "id_number": ID_NUMBER}
    parsed = parse_event(to_bytes(cloudevent("member.registered", data)), ALL_TYPES).data
    assert parsed.phone == PHONE and parsed.id_number == ID_NUMBER  # type: ignore[attr-defined]
    assert PHONE not in repr(parsed) and ID_NUMBER not in repr(parsed)


@pytest.mark.parametrize("bad", ["12345", "11010119900307123", "11010119900307123Y", "abc"])
def test_an_identity_number_must_look_like_one(bad: str) -> None:
    data = {**cloudevent("member.registered")["data"], "id_number": bad}
    with pytest.raises(InvalidEvent) as err:
        parse_event(to_bytes(cloudevent("member.registered", data)), ALL_TYPES)
    assert err.value.reason == "invalid_data" and "id_number" in err.value.message and bad not in err.value.message


@pytest.mark.parametrize(
    ("type_", "field", "value"),
    [
        ("member.registered", "member_id", PHONE),
        ("report.submitted", "report_id", f"r-{ID_NUMBER}"),
        ("report.submitted", "photos", [{"url": f"https://img.example.cn/{PHONE}.jpg"}]),
    ],
)
def test_identifiers_and_urls_carrying_personal_data_are_refused_without_quoting_it(type_, field, value) -> None:
    data = {**cloudevent(type_)["data"], field: value}
    with pytest.raises(InvalidEvent) as err:
        parse_event(to_bytes(cloudevent(type_, data)), ALL_TYPES)
    assert err.value.reason == "invalid_data"
    assert "phone or identity number" in err.value.message
    assert PHONE not in err.value.message and ID_NUMBER not in err.value.message


@pytest.mark.parametrize("attr", ["id", "source", "subject"])
def test_control_characters_in_stored_attributes_are_refused(attr: str) -> None:
    value = "/a\x00b" if attr == "source" else "e\x00\n1"
    with pytest.raises(InvalidEvent) as err:
        parse_event(to_bytes(cloudevent("member.deactivated", **{attr: value})), ALL_TYPES)
    assert err.value.reason == "not_cloudevent" and "control characters" in err.value.message


@pytest.mark.parametrize("attr", ["id", "source", "subject"])
def test_stored_attributes_refuse_personal_numbers_and_name_control_characters_first(attr: str) -> None:
    """One search finds either reason; the message is the one each check gave on its own."""
    for value, says in (
        (f"/x/{PHONE}", "phone or identity number"),
        (f"e-{ID_NUMBER}", "phone or identity number"),
        (f"/x/{PHONE}\x01", "control characters"),
    ):
        with pytest.raises(InvalidEvent) as err:
            parse_event(to_bytes(cloudevent("member.deactivated", **{attr: value})), ALL_TYPES)
        assert err.value.reason == "not_cloudevent" and says in err.value.message, (value, err.value.message)
        assert PHONE not in err.value.message and ID_NUMBER not in err.value.message
    parse_event(to_bytes(cloudevent("member.deactivated", **{attr: "/x/e-4f13912345678ab0c"})), ALL_TYPES)


def test_nul_in_any_text_field_is_invalid_data_not_a_database_error() -> None:
    data = {**cloudevent("member.deactivated")["data"], "reason": "left\x00"}
    with pytest.raises(InvalidEvent) as err:
        parse_event(to_bytes(cloudevent("member.deactivated", data)), ALL_TYPES)
    assert err.value.reason == "invalid_data" and "reason" in err.value.message
