from __future__ import annotations

import pytest
from incentives_kernel.pii import PiiHasher, PiiKind, normalise

KEY = "k" * 32


@pytest.mark.parametrize("written", ["13712345678", "+86 137 1234 5678", "0086-137-1234-5678", "(137) 1234.5678"])
def test_a_phone_written_any_common_way_has_one_digest(written: str) -> None:
    assert normalise(PiiKind.PHONE, written) == "13712345678"
    assert PiiHasher(KEY).digest(PiiKind.PHONE, written) == PiiHasher(KEY).digest(PiiKind.PHONE, "13712345678")


def test_identity_numbers_ignore_the_case_of_their_check_letter() -> None:
    h = PiiHasher(KEY)
    assert h.digest(PiiKind.ID_NUMBER, "11010519491231002x") == h.digest(PiiKind.ID_NUMBER, "11010519491231002X")


def test_digests_depend_on_the_key_and_the_kind() -> None:
    a, b = PiiHasher(KEY), PiiHasher("j" * 32)
    assert a.digest(PiiKind.PHONE, "110105194912310021") != b.digest(PiiKind.PHONE, "110105194912310021")
    assert a.digest(PiiKind.PHONE, "110105194912310021") != a.digest(PiiKind.ID_NUMBER, "110105194912310021")
    assert a.digest(PiiKind.PHONE, "13712345678") != a.digest(PiiKind.PHONE, "13712345679")


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        PiiHasher("short")
