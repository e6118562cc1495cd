"""The intake check: source allow-list per topic and type, and signatures with a replay window."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from incentives_kernel import topics
from incentives_kernel.envelope import parse_event
from incentives_kernel.errors import InvalidEvent
from incentives_kernel.events import ALL_TYPES
from incentives_kernel.intake import Intake, SigningKeys, SourcePolicy, compile_pattern, sign

from .conftest import PHONE, cloudevent, to_bytes

NOW = 1_800_000_000.0
DISPATCH_KEY = "dispatch-key-2026-11-xxxxxxxx"
OLD_DISPATCH_KEY = "dispatch-key-2026-05-xxxxxxxx"


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
    return Intake(SourcePolicy.load(), keys, tolerance_s=300, clock=lambda: NOW)


def check_signed(intake: Intake, headers, *, body_override: bytes | None = None, replayed: bool = False) -> str | None:
    raw, parsed = event("report.status_changed", "/district/nanqu/dispatch")
    try:
        intake.check(topics.REPORTS, parsed, body_override or raw, headers, replayed=replayed)
    except InvalidEvent as exc:
        return exc.reason
    return None


def dispatch_raw() -> bytes:
    return event("report.status_changed", "/district/nanqu/dispatch")[0]


def test_a_good_signature_passes_with_either_key_while_rotating(signed_intake: Intake) -> None:
    for key in (DISPATCH_KEY, OLD_DISPATCH_KEY):
        assert check_signed(signed_intake, sign(key, "evt-0001", dispatch_raw(), ts=int(NOW) - 10)) is None


def test_several_signatures_one_of_which_is_good(signed_intake: Intake) -> None:
    good = sign(DISPATCH_KEY, "evt-0001", dispatch_raw(), ts=int(NOW))
    other = sign("a-wrong-key-of-some-length", "evt-0001", dispatch_raw(), ts=int(NOW))
    headers = [("ce-signature", other[0][1] + b" " + good[0][1]), good[1]]
    assert check_signed(signed_intake, headers) is None


def test_missing_wrong_tampered_and_old_signatures(signed_intake: Intake) -> None:
    raw = dispatch_raw()
    assert check_signed(signed_intake, []) == "signature_missing"
    assert check_signed(signed_intake, sign(DISPATCH_KEY, "evt-0001", raw)[:1]) == "signature_missing"  # no ts
    assert check_signed(signed_intake, sign("a-wrong-key-of-some-length", "evt-0001", raw, ts=int(NOW))) == (
        "bad_signature"
    )
    # Signed for another event id (a replay of a signature onto another event), or the body changed.
    assert check_signed(signed_intake, sign(DISPATCH_KEY, "evt-0002", raw, ts=int(NOW))) == "bad_signature"
    tampered = raw.replace(b"accepted", b"resolved")
    assert check_signed(signed_intake, sign(DISPATCH_KEY, "evt-0001", raw, ts=int(NOW)), body_override=tampered) == (
        "bad_signature"
    )
    # The timestamp is signed: moving it to pass the window breaks the signature.
    sig, _ = sign(DISPATCH_KEY, "evt-0001", raw, ts=int(NOW) - 3600)
    assert check_signed(signed_intake, [sig, ("ce-signature-ts", str(int(NOW)).encode())]) == "bad_signature"
    assert check_signed(signed_intake, [sig, ("ce-signature-ts", b"soon")]) == "bad_signature"
    assert check_signed(signed_intake, [("ce-signature", b"v0,abc"), ("ce-signature-ts", b"1")]) == "bad_signature"
    old = sign(DISPATCH_KEY, "evt-0001", raw, ts=int(NOW) - 301)
    assert check_signed(signed_intake, old) == "signature_expired"
    future = sign(DISPATCH_KEY, "evt-0001", raw, ts=int(NOW) + 301)
    assert check_signed(signed_intake, future) == "signature_expired"


def test_an_operator_replay_keeps_an_old_but_genuine_signature(signed_intake: Intake) -> None:
    raw = dispatch_raw()
    old = sign(DISPATCH_KEY, "evt-0001", raw, ts=int(NOW) - 86_400)
    assert check_signed(signed_intake, old, replayed=True) is None
    forged = sign("a-wrong-key-of-some-length", "evt-0001", raw, ts=int(NOW) - 86_400)
    assert check_signed(signed_intake, forged, replayed=True) == "bad_signature"


def test_sources_without_keys_need_no_signature(signed_intake: Intake) -> None:
    raw, parsed = event("report.submitted", "/district/nanqu/rider-app")
    signed_intake.check(topics.REPORTS, parsed, raw, [])


@pytest.mark.parametrize("text", ['["k"]', '{"/x": ["short"]}', '{"/x": []}', '{"x": ["long-enough-key-123"]}'])
def test_bad_key_config_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"signing keys|must start"):
        SigningKeys.from_json(text)


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


def test_nul_in_any_text_field_is_invalid_data_not_a_database_error() -> None:
    data = {**cloudevent("member.deactivated")["data"], "reason": "left\x00"}
    with pytest.raises(InvalidEvent) as err:
        parse_event(to_bytes(cloudevent("member.deactivated", data)), ALL_TYPES)
    assert err.value.reason == "invalid_data" and "reason" in err.value.message
