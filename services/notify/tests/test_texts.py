"""Notification texts: both locales complete and consistent, rendering, fallbacks, reasons."""

from __future__ import annotations

import json
import string
from importlib import resources

import pytest
from incentives_kernel.events import (
    NeedRejectionReason,
    NeedStatus,
    RedemptionRejectionReason,
    RejectionReason,
    ReopenReason,
    ReportStatus,
)
from notify import texts
from notify.kinds import KINDS as NOTIFICATION_KINDS


def load(name: str) -> dict:
    return json.loads((resources.files("notify") / "templates" / name).read_text(encoding="utf-8"))


ZH = load("zh-CN.json")
EN = load("en.json")
REASONS = load("reasons.json")
KINDS = sorted(ZH)

SAMPLE = {
    "amount": 37,
    "balance": 1234,
    "reason": "fire_hazard",
    "ref": "r-2001",
    "report_id": "r-2001",
    "department": "Nanqu Fire Station",
    "reason_text": "REASON-TEXT",
    "day": "2026-11-21",
    "cap": 50,
    "requested": 10,
    "cut": 4,
    "from_level": 1,
    "to_level": 2,
    "earned_365d": 215,
    "reward_name": "Health check-up",
    "cost_points": 120,
    "voucher_code": "VC-7Q2K9",
    "points_returned": 88,
    "cancelled_by_text": "CANCELLED-BY",
    "rank": 17,
    "quota": 5,
    "need_id": "n-4001",
    "previous_department": "Beiqu Street Office",
}


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def test_locales() -> None:
    assert texts.DEFAULT_LOCALE == "zh-CN"
    assert set(texts.LOCALES) == {"zh-CN", "en"}


def test_the_contract_kinds_exist() -> None:
    for kind in ("report_dispatched", "report_accepted", "report_resolved", "report_rejected"):
        assert kind in ZH


@pytest.mark.parametrize("kind", ["report", "rating", "volunteer", "adjustment"])
def test_points_credited_has_a_text_for_every_kind_of_earning(kind) -> None:
    # notify renders `points_credited_<kind>` for every PointsCredited.kind the points service emits
    assert f"points_credited_{kind}" in ZH
    assert f"points_credited_{kind}" in EN


def test_both_locales_have_the_same_kinds() -> None:
    assert set(ZH) == set(EN)


@pytest.mark.parametrize("kind", KINDS)
def test_same_placeholders_in_both_locales(kind) -> None:
    for part in ("title", "body"):
        assert placeholders(ZH[kind][part]) == placeholders(EN[kind][part]), (kind, part)
    assert set(ZH[kind]) == set(EN[kind]) == {"title", "body"}


@pytest.mark.parametrize("kind", KINDS)
def test_placeholders_are_known_fields(kind) -> None:
    for part in ("title", "body"):
        assert placeholders(ZH[kind][part]) <= set(SAMPLE), (kind, part)


def test_no_missing_translations() -> None:
    assert texts.missing_translations() == []


def test_missing_translations_reports_a_missing_kind(monkeypatch) -> None:
    fake = {"zh-CN": {"a": {"title": "t", "body": "b"}, "b": {"title": "t", "body": "b"}}, "en": {"a": {}}}
    monkeypatch.setattr(texts, "_templates", fake.__getitem__)
    assert texts.missing_translations() == ["en:b"]


def test_missing_translations_reports_a_missing_placeholder(monkeypatch) -> None:
    # The module promises that a placeholder missing in a language is reported too.
    fake = {
        "zh-CN": {"points": {"title": "+{amount}", "body": "获得 {amount} 积分，可用 {balance}"}},
        "en": {"points": {"title": "+{amount}", "body": "You earned {amount} points."}},
    }
    monkeypatch.setattr(texts, "_templates", fake.__getitem__)
    assert texts.missing_translations() == ["en:points placeholders"]


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
@pytest.mark.parametrize("kind", KINDS)
def test_render_every_kind(kind, locale) -> None:
    text = texts.render(kind, locale, dict(SAMPLE))
    assert text.locale == locale
    assert text.title.strip()
    assert text.body.strip()
    assert "{" not in text.title + text.body
    rendered = text.title + text.body
    template = ZH[kind] if locale == "zh-CN" else EN[kind]
    for name in placeholders(template["title"]) | placeholders(template["body"]):
        assert str(SAMPLE[name]) in rendered, (kind, locale, name)


@pytest.mark.parametrize("kind", [k for k in KINDS if k.startswith("points_credited")])
@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_points_texts_show_the_figures(kind, locale) -> None:
    text = texts.render(kind, locale, dict(SAMPLE))
    assert "37" in text.title
    assert "37" in text.body
    assert "1234" in text.body


def test_locales_really_differ() -> None:
    zh = texts.render("report_accepted", "zh-CN", dict(SAMPLE))
    en = texts.render("report_accepted", "en", dict(SAMPLE))
    assert zh.title != en.title
    assert "受理" in zh.title
    assert "accepted" in en.title.lower()


@pytest.mark.parametrize("locale", ["fr", "", "zh", "EN", "en-US", "zh_CN"])
def test_unknown_locale_falls_back_to_zh_cn(locale) -> None:
    text = texts.render("report_resolved", locale, dict(SAMPLE))
    assert text.locale == "zh-CN"
    assert text == texts.render("report_resolved", "zh-CN", dict(SAMPLE))


def test_kind_missing_in_locale_falls_back_to_zh_cn(monkeypatch) -> None:
    fake = {"zh-CN": {"only_zh": {"title": "标题 {n}", "body": "正文 {n}"}}, "en": {}}
    monkeypatch.setattr(texts, "_templates", fake.__getitem__)
    text = texts.render("only_zh", "en", {"n": 7})
    assert text == texts.Text(title="标题 7", body="正文 7", locale="zh-CN")


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(KeyError):
        texts.render("no_such_kind", "en", dict(SAMPLE))


def test_field_values_are_not_formatted_again() -> None:
    text = texts.render("report_dispatched", "en", dict(SAMPLE, department="{balance}"))
    assert "{balance}" in text.body


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
@pytest.mark.parametrize("reason", [r.value for r in RejectionReason])
def test_reason_text_for_every_rejection_reason(reason, locale) -> None:
    text = texts.reason_text(reason, locale)
    assert text == REASONS[locale][reason]
    assert text.strip()
    assert text != texts.reason_text(None, locale)


def test_reason_texts_differ_by_locale_and_reason() -> None:
    for locale in ("zh-CN", "en"):
        values = [texts.reason_text(r.value, locale) for r in RejectionReason]
        assert len(set(values)) == len(values)
    assert texts.reason_text("fraudulent", "en") != texts.reason_text("fraudulent", "zh-CN")


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_reason_text_none_and_unknown(locale) -> None:
    assert texts.reason_text(None, locale) == REASONS[locale]["none"]
    assert texts.reason_text("", locale) == REASONS[locale]["none"]
    assert texts.reason_text("no_such_reason", locale) == REASONS[locale]["none"]


def test_reason_text_department_default() -> None:
    assert texts.reason_text("department", "en") == "the department"
    assert texts.reason_text("department", "zh-CN") == "相关部门"


def test_reason_text_unknown_locale_falls_back_to_zh_cn() -> None:
    assert texts.reason_text("invalid", "fr") == REASONS["zh-CN"]["invalid"]


def test_reason_tables_have_the_same_keys() -> None:
    assert set(REASONS) >= {"zh-CN", "en"}
    assert set(REASONS["zh-CN"]) == set(REASONS["en"])
    assert {r.value for r in RejectionReason} | {"none"} <= set(REASONS["en"])


def test_rejected_text_carries_the_reason() -> None:
    for locale in ("zh-CN", "en"):
        reason = texts.reason_text("duplicate", locale)
        text = texts.render("report_rejected", locale, dict(SAMPLE, reason_text=reason))
        assert reason in text.body


# Templates named otherwise than `<kind>` or `<kind>_<variant>` (usecases._level picks one).
RENAMED = {"level_up": "level_changed", "level_down": "level_changed"}


def _kind_of(template: str) -> str:
    """The notification kind a template renders: the longest kind it names (`points_credited_report`)."""
    if template in RENAMED:
        return RENAMED[template]
    return max((k for k in NOTIFICATION_KINDS if template == k or template.startswith(k + "_")), key=len)


@pytest.mark.parametrize("kind", NOTIFICATION_KINDS)
def test_every_notification_kind_has_a_template_in_both_locales(kind) -> None:
    for table in (ZH, EN):
        assert any(_kind_of(t) == kind for t in table), kind


def test_every_template_belongs_to_a_kind() -> None:
    for template in ZH:
        assert _kind_of(template)


REWARD_FIGURES = {
    "redemption_confirmed": ["Health check-up", "120", "VC-7Q2K9"],
    "redemption_rejected": ["Health check-up", "REASON-TEXT"],
    "redemption_fulfilled": ["Health check-up"],
    "redemption_cancelled": ["Health check-up", "88", "CANCELLED-BY"],
    "allocation_won": ["Health check-up", "17", "120", "VC-7Q2K9"],
    "allocation_lost": ["Health check-up", "5", "REASON-TEXT"],
    "allocation_lost_ranked": ["Health check-up", "5", "17", "REASON-TEXT"],
}


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
@pytest.mark.parametrize("template", sorted(REWARD_FIGURES))
def test_rewards_texts_show_the_figures(template, locale) -> None:
    text = texts.render(template, locale, dict(SAMPLE))
    for figure in REWARD_FIGURES[template]:
        assert figure in text.title + text.body, (template, locale, figure)
    assert "VC-7Q2K9" not in text.title  # a voucher code is for the body, not a lock-screen title


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
@pytest.mark.parametrize(
    "reason",
    [r.value for r in RedemptionRejectionReason]
    + ["outranked", "cancelled_by_member", "cancelled_by_operator", "reward_unknown"],
)
def test_reason_text_for_every_redemption_and_allocation_reason(reason, locale) -> None:
    text = texts.reason_text(reason, locale)
    assert text == REASONS[locale][reason]
    assert text != texts.reason_text(None, locale)


def test_redemption_reason_texts_differ_by_locale_and_reason() -> None:
    for locale in ("zh-CN", "en"):
        values = [texts.reason_text(r.value, locale) for r in RedemptionRejectionReason]
        assert len(set(values)) == len(values)
    assert texts.reason_text("out_of_stock", "zh-CN") == "奖品已兑完"
    assert texts.reason_text("out_of_stock", "en") == "it is out of stock"


def test_a_fallback_is_logged(monkeypatch) -> None:
    # Visible in production: the rider gets the zh-CN text and the log says which kind lacks a translation.
    fake = {"zh-CN": {"only_zh": {"title": "标题", "body": "正文"}}, "en": {}}
    monkeypatch.setattr(texts, "_templates", fake.__getitem__)
    seen: list[dict] = []
    monkeypatch.setattr(texts.log, "warning", lambda msg, **kw: seen.append({"msg": msg, **kw}))
    texts.render("only_zh", "en", {})
    assert seen == [
        {"msg": "template missing in locale: falling back", "kind": "only_zh", "locale": "en", "fallback": "zh-CN"}
    ]
    texts.render("only_zh", "zh-CN", {})
    assert len(seen) == 1


# ------------------------------------------------------------------ version 2: needs, transfers, reopening


@pytest.mark.parametrize("status", [s.value for s in ReportStatus])
def test_a_report_template_for_every_status_and_the_transfer(status) -> None:
    # notify renders `report_<status>` and `report_transferred` from report.lifecycle_changed
    for table in (ZH, EN):
        assert f"report_{status}" in table
        assert "report_transferred" in table


@pytest.mark.parametrize("step", ["submitted", "transferred", *[s.value for s in NeedStatus]])
@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_a_need_template_for_every_step_naming_the_need(step, locale) -> None:
    text = texts.render(f"need_{step}", locale, dict(SAMPLE))
    assert "n-4001" in text.body
    assert "r-2001" not in text.body  # a need's text never speaks of a report


@pytest.mark.parametrize("kind", ["report_transferred", "need_transferred"])
@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_a_transfer_names_both_departments(kind, locale) -> None:
    body = texts.render(kind, locale, dict(SAMPLE)).body
    assert "Beiqu Street Office" in body
    assert "Nanqu Fire Station" in body
    assert body.index("Beiqu Street Office") < body.index("Nanqu Fire Station")  # from, then to


@pytest.mark.parametrize("kind", ["report_reopened", "need_reopened", "need_rejected"])
@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_reopening_and_rejection_carry_the_reason(kind, locale) -> None:
    assert "REASON-TEXT" in texts.render(kind, locale, dict(SAMPLE)).body


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_the_need_rating_point_has_its_text(locale) -> None:
    # points credits a need's rating as kind `need_rating` (its own ref space: a need id may equal a report id)
    text = texts.render("points_credited_need_rating", locale, dict(SAMPLE))
    assert "37" in text.title and "1234" in text.body and "r-2001" in text.body


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
@pytest.mark.parametrize(
    "reason", [r.value for r in NeedRejectionReason] + [r.value for r in ReopenReason] + ["duplicate_need"]
)
def test_reason_text_for_every_need_rejection_and_reopen_reason(reason, locale) -> None:
    text = texts.reason_text(reason, locale)
    assert text == REASONS[locale][reason]
    assert text != texts.reason_text(None, locale)


def test_need_and_reopen_reason_texts_differ() -> None:
    for locale in ("zh-CN", "en"):
        keys = {*(r.value for r in NeedRejectionReason), *(r.value for r in ReopenReason), "duplicate_need"}
        values = [texts.reason_text(k, locale) for k in keys]
        assert len(set(values)) == len(values)
        # a need's duplicate is told as a repeated request, not as a report nearby
        assert texts.reason_text("duplicate_need", locale) != texts.reason_text("duplicate", locale)
