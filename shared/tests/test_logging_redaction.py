"""Personal data is masked in logs: by key at any depth, and by shape anywhere in a string."""

from __future__ import annotations

import json
import logging

import pytest
import structlog
from incentives_kernel.logging import SENSITIVE_KEYS, configure_logging, redact_processor, redact_text


@pytest.mark.parametrize("prefix", ["13", "14", "15", "16", "17", "18", "19"])
def test_mobiles_of_every_prefix_are_masked(prefix) -> None:
    number = prefix + "812345678"
    out = redact_text(f"rider {number} called")
    assert number not in out
    assert out == f"rider {prefix}8****5678 called"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("13812345678", "138****5678"),
        ("tel:13812345678;", "tel:138****5678;"),
        ("电话13812345678，请回电", "电话138****5678，请回电"),
        ("a 13812345678 and 19987654321", "a 138****5678 and 199****4321"),
        ("+86 13812345678", "+86 138****5678"),
        ('{"phone":"13812345678"}', '{"phone":"138****5678"}'),
    ],
)
def test_mobile_in_context(text, expected) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize("text", ["+8613812345678", "008613812345678"])
def test_mobile_with_country_code_is_masked(text) -> None:
    # A mainland mobile written with its country code is just as personal.
    assert "13812345678" not in redact_text(text)
    assert redact_text(text).endswith("138****5678")


@pytest.mark.parametrize(
    "text",
    [
        "12812345678",  # 12x is not a mobile prefix
        "10812345678",
        "1381234567",  # 10 digits
        "138123456789",  # 12 digits
        "order 23812345678",
        "amount 1500 points, balance 138",
        "2026-11-21T08:30:00+08:00",
        "evt-0001",
    ],
)
def test_other_numbers_are_left_alone(text) -> None:
    assert redact_text(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("110101199003071234", "110101********1234"),
        ("11010119900307123X", "110101********123X"),
        ("11010119900307123x", "110101********123x"),
        ("id: 440305198812120017.", "id: 440305********0017."),
        ("身份证号440305198812120017，", "身份证号440305********0017，"),
    ],
)
def test_resident_id_numbers_are_masked(text, expected) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "11010119900307123",  # 17 characters
        "1101011990030712345",  # 19 digits
        "11010119900307123Y",  # last character must be a digit or X
        "sha256 ab110101199003071234cd",  # inside a hex string
    ],
)
def test_non_resident_ids_are_left_alone(text) -> None:
    assert redact_text(text) == text


def test_resident_id_is_not_half_masked_as_mobile() -> None:
    out = redact_text("110101199003071234 13812345678")
    assert out == "110101********1234 138****5678"


@pytest.mark.parametrize("key", sorted(SENSITIVE_KEYS))
def test_sensitive_keys_are_masked_at_top_level(key) -> None:
    out = redact_processor(None, "info", {"event": "registered", key: "some value"})
    assert out[key] == "***"
    assert out["event"] == "registered"


def test_sensitive_keys_are_matched_case_insensitively() -> None:
    out = redact_processor(None, "info", {"Phone": "x", "AUTHORIZATION": "Bearer t", "Name": "张三"})
    assert out == {"Phone": "***", "AUTHORIZATION": "***", "Name": "***"}


def test_sensitive_keys_are_masked_at_any_depth() -> None:
    event = {
        "event": "member registered",
        "member": {"member_id": "m-1", "name": "张三", "contact": {"phone": "13812345678", "address": "人民路 1 号"}},
        "batch": [{"id_number": "110101199003071234", "ok": True}, ({"token": "t0k"},)],
        "count": 3,
    }
    out = redact_processor(None, "info", event)
    assert out["member"]["member_id"] == "m-1"
    assert out["member"]["name"] == "***"
    assert out["member"]["contact"] == {"phone": "***", "address": "***"}
    assert out["batch"][0] == {"id_number": "***", "ok": True}
    assert out["batch"][1][0] == {"token": "***"}
    assert out["count"] == 3


def test_values_under_harmless_keys_are_masked_by_shape() -> None:
    out = redact_processor(
        None, "info", {"event": "call 13812345678", "note": ["id 110101199003071234"], "ctx": {"m": "13812345678"}}
    )
    blob = json.dumps(out, ensure_ascii=False)
    assert "13812345678" not in blob
    assert "110101199003071234" not in blob
    assert out["event"] == "call 138****5678"


def test_non_string_keys_do_not_break_logging() -> None:
    # A nested mapping keyed by numbers (counts per partition, say) must not crash the log call.
    out = redact_processor(None, "info", {"event": "lag", "per_partition": {0: 12, 1: "13812345678"}})
    assert out["per_partition"][0] == 12
    assert out["per_partition"][1] == "138****5678"


def test_configured_logging_redacts_stdlib_and_structlog(capsys) -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    try:
        configure_logging("points", "info")
        structlog.get_logger("t").info("rider 13812345678 registered", phone="13812345678", member_id="m-1")
        logging.getLogger("plain").warning("id 110101199003071234 seen")
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        structlog.reset_defaults()
    assert len(lines) == 2
    first, second = lines
    assert first["service"] == "points"
    assert first["phone"] == "***"
    assert first["event"] == "rider 138****5678 registered"
    assert first["member_id"] == "m-1"
    assert second["event"] == "id 110101********1234 seen"


def test_hex_identifiers_with_eleven_digits_in_a_row_are_not_personal() -> None:
    """UUIDs and digests often hold a phone-shaped run of digits; refusing them dropped real events."""
    from incentives_kernel.logging import holds_personal_number

    for genuine in ("4f13912345678ab0c", "e13812345678", "9c2d-13912345678d", "bench-r-13912345678x"):
        assert not holds_personal_number(genuine), genuine
    for personal in (
        "13912345678",
        "m-13912345678",
        "/district/13912345678/app",
        "+8613912345678",
        "x_11010519491231002X",
    ):
        assert holds_personal_number(personal), personal


def test_the_one_search_decides_as_the_two_shapes_do() -> None:
    """`holds_personal_number` searches once for either shape: the verdict of searching for each."""
    import random

    from incentives_kernel.logging import _MOBILE_TOKEN, _RESIDENT_ID, holds_personal_number

    rng = random.Random(19)
    alphabet = "0123456789" * 4 + "13X+-_/ab"
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 26)))
        two = bool(_MOBILE_TOKEN.search(text) or _RESIDENT_ID.search(text))
        assert holds_personal_number(text) is two, text
    assert holds_personal_number("x_11010519491231002X") and holds_personal_number("+8613912345678")
