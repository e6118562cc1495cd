"""The pure rules of Version 2: the mixed lottery seed, the changes after a close, masked ids, voucher states."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from rewards import allocation
from rewards.allocation import Outcome, check_changes
from rewards.rounds_api import mask_member
from rewards.vouchers_api import voucher_status


def test_an_operator_seed_is_always_mixed_with_the_servers_randomness() -> None:
    server = "a" * 64
    mixed = allocation.mix_seed(server, "chosen-by-the-operator")
    assert mixed == hashlib.sha256(f"{server}:chosen-by-the-operator".encode()).hexdigest()
    assert mixed != "chosen-by-the-operator"
    assert allocation.mix_seed("b" * 64, "chosen-by-the-operator") != mixed  # the server's part changes it
    assert allocation.mix_seed(server, None) == server


def o(rank: int, member: str, status: str, won: bool, reason: str | None = None) -> Outcome:
    return Outcome(rank, member, status, won, reason)


def test_a_disqualified_winners_place_goes_to_the_next_in_line() -> None:
    good = [o(1, "a", "won", True), o(2, "b", "disqualified", True, "forged papers"), o(3, "c", "won", False)]
    assert check_changes(good, quota=2) == []


def test_a_promotion_out_of_rank_order_is_found() -> None:
    skipped = [
        o(1, "a", "won", True),
        o(2, "b", "disqualified", True, "forged papers"),
        o(3, "c", "lost", False, "outranked"),
        o(4, "d", "won", False),
    ]
    assert any("placed before c" in p for p in check_changes(skipped, quota=2))
    passed_over = [*skipped[:2], o(3, "c", "lost", False, "passed_over: not eligible"), skipped[3]]
    assert check_changes(passed_over, quota=2) == []


def test_disqualifications_need_a_reason_places_the_quota_and_freed_places_a_taker() -> None:
    assert check_changes([o(1, "a", "disqualified", True, None)], quota=1) == [
        "rank 1: a disqualified without a reason"
    ]
    assert any("places held" in p for p in check_changes([o(1, "a", "won", True), o(2, "b", "won", True)], quota=1))
    left = [o(1, "a", "disqualified", True, "x"), o(2, "b", "lost", False, "outranked")]
    assert any("not passed on" in p for p in check_changes(left, quota=1))
    extra = [o(1, "a", "won", True), o(2, "b", "won", False)]
    assert any("only 0 places fell free" in p for p in check_changes(extra, quota=2))


def test_member_ids_are_masked_on_the_notice() -> None:
    assert mask_member("rider-000101") == "rider-****01"
    assert mask_member("m-3f9a2c") == "m-****2c"
    assert mask_member("plain") == "****in"


def test_voucher_states_as_a_counter_sees_them() -> None:
    now = datetime.now(UTC)
    base = {"status": "confirmed", "expires_at": now + timedelta(days=1), "result_status": None}
    assert voucher_status(base, now) == "valid"
    assert voucher_status({**base, "expires_at": now - timedelta(seconds=1)}, now) == "expired"
    assert voucher_status({**base, "status": "expired"}, now) == "expired"
    assert voucher_status({**base, "status": "fulfilled"}, now) == "redeemed"
    assert voucher_status({**base, "status": "cancelled"}, now) == "cancelled"
    assert voucher_status({**base, "result_status": "provisional"}, now) == "in_notice"


def test_every_voucher_code_fits_the_routes_path_pattern() -> None:
    import re

    from rewards import vouchers
    from rewards.vouchers_api import CODE_PATTERN

    for check in vouchers.CHECK_ALPHABET:  # the check character may be any of the 37 symbols
        assert re.fullmatch(CODE_PATTERN, f"7K2M-9QXD-4RHT-WB3E-{check}")
    assert all(re.fullmatch(CODE_PATTERN, vouchers.issue()) for _ in range(200))
