"""The limits of the contract's inbound payloads, checked on the models themselves."""

from __future__ import annotations

import re

import pytest
from incentives_kernel import events as ev
from pydantic import ValidationError


def report(sample_data, **changes):
    data = sample_data("report.submitted")
    data.update(changes)
    return data


# ------------------------------------------------------------------ identifiers


@pytest.mark.parametrize(
    "value",
    ["a", "A", "0", "m-1001", "m_1001", "district.nanqu:m-1", "ABCxyz019_.:-", "x" * 64, "1" * 64],
)
def test_identifier_accepts_contract_alphabet(value, sample_data) -> None:
    model = ev.ReportRated.model_validate(dict(sample_data("report.rated"), report_id=value, member_id=value))
    assert model.report_id == value
    assert model.member_id == value


@pytest.mark.parametrize(
    "value",
    ["", "x" * 65, "m 1001", "m/1001", "m#1", "张三", "m+1", "m@1", "m,1", "m\t1", "m\x001", "é", "m*1", "m'1"],
)
def test_identifier_rejects_everything_else(value, sample_data) -> None:
    for field in ("report_id", "member_id"):
        with pytest.raises(ValidationError) as info:
            ev.ReportRated.model_validate(dict(sample_data("report.rated"), **{field: value}))
        assert info.value.errors()[0]["loc"] == (field,)


@pytest.mark.parametrize(
    ("type_", "fields"),
    [
        ("member.registered", ["member_id"]),
        ("member.deactivated", ["member_id"]),
        ("report.submitted", ["report_id", "member_id"]),
        ("report.status_changed", ["report_id"]),
        ("volunteer.attendance_confirmed", ["attendance_id", "activity_id", "member_id"]),
        ("volunteer.attendance_revoked", ["attendance_id", "member_id"]),
        ("redemption.requested", ["redemption_id", "member_id", "reward_id"]),
    ],
)
def test_every_identifier_field_is_checked(type_, fields, sample_data) -> None:
    model = ev.INBOUND_TYPES[type_]
    for field in fields:
        with pytest.raises(ValidationError):
            model.model_validate(dict(sample_data(type_), **{field: "has space"}))
        with pytest.raises(ValidationError):
            model.model_validate(dict(sample_data(type_), **{field: "y" * 65}))
        assert getattr(model.model_validate(dict(sample_data(type_), **{field: "y" * 64})), field) == "y" * 64


# ------------------------------------------------------------------ report.submitted


def test_photos_at_most_nine(sample_data) -> None:
    photo = {"url": "https://img.example.cn/a.jpg"}
    assert len(ev.ReportSubmitted.model_validate(report(sample_data, photos=[photo] * 9)).photos) == 9
    with pytest.raises(ValidationError) as info:
        ev.ReportSubmitted.model_validate(report(sample_data, photos=[photo] * 10))
    assert info.value.errors()[0]["loc"] == ("photos",)


def test_photos_may_be_empty_or_absent(sample_data) -> None:
    assert ev.ReportSubmitted.model_validate(report(sample_data, photos=[])).photos == []
    data = report(sample_data)
    del data["photos"]
    assert ev.ReportSubmitted.model_validate(data).photos == []


@pytest.mark.parametrize(
    "url",
    [
        "http://img.example.cn/a.jpg",
        "ftp://img.example.cn/a.jpg",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "data:image/png;base64,AAAA",
        "/relative/a.jpg",
        "img.example.cn/a.jpg",
        "",
    ],
)
def test_photo_url_must_be_https(url, sample_data) -> None:
    with pytest.raises(ValidationError):
        ev.ReportSubmitted.model_validate(report(sample_data, photos=[{"url": url}]))


def test_photo_url_https_accepted(sample_data) -> None:
    model = ev.ReportSubmitted.model_validate(
        report(sample_data, photos=[{"url": "https://img.example.cn:8443/r/1.jpg?sig=abc"}])
    )
    assert model.photos[0].url.scheme == "https"
    assert model.photos[0].sha256 is None


@pytest.mark.parametrize("sha", ["0" * 64, "ab" * 32, "AB" * 32, "0123456789abcdefABCDEF" * 2 + "0" * 20])
def test_photo_sha256_accepts_64_hex(sha, sample_data) -> None:
    model = ev.ReportSubmitted.model_validate(report(sample_data, photos=[{"url": "https://a.cn/x", "sha256": sha}]))
    assert model.photos[0].sha256 == sha


@pytest.mark.parametrize("sha", ["0" * 63, "0" * 65, "g" * 64, "sha256:" + "0" * 64, "", "0" * 32 + " " + "0" * 31])
def test_photo_sha256_rejects_other_strings(sha, sample_data) -> None:
    with pytest.raises(ValidationError):
        ev.ReportSubmitted.model_validate(report(sample_data, photos=[{"url": "https://a.cn/x", "sha256": sha}]))


@pytest.mark.parametrize(("lat", "lon"), [(-90, -180), (90, 180), (0, 0), (31.2304, 121.4737), (-89.999, 179.999)])
def test_location_in_range(lat, lon, sample_data) -> None:
    model = ev.ReportSubmitted.model_validate(report(sample_data, location={"lat": lat, "lon": lon}))
    assert (model.location.lat, model.location.lon) == (lat, lon)
    assert model.location.address is None


@pytest.mark.parametrize(
    ("lat", "lon"),
    [(90.0001, 0), (-90.0001, 0), (0, 180.0001), (0, -180.0001), (float("nan"), 0), (0, float("inf")), ("north", 0)],
)
def test_location_out_of_range(lat, lon, sample_data) -> None:
    with pytest.raises(ValidationError):
        ev.ReportSubmitted.model_validate(report(sample_data, location={"lat": lat, "lon": lon}))


def test_location_is_required(sample_data) -> None:
    data = report(sample_data)
    del data["location"]
    with pytest.raises(ValidationError):
        ev.ReportSubmitted.model_validate(data)


def test_description_up_to_2000(sample_data) -> None:
    assert len(ev.ReportSubmitted.model_validate(report(sample_data, description="描" * 2000)).description) == 2000
    with pytest.raises(ValidationError):
        ev.ReportSubmitted.model_validate(report(sample_data, description="描" * 2001))


def test_address_up_to_256(sample_data) -> None:
    ok = ev.ReportSubmitted.model_validate(report(sample_data, location={"lat": 1, "lon": 1, "address": "a" * 256}))
    assert ok.location.address == "a" * 256
    with pytest.raises(ValidationError):
        ev.ReportSubmitted.model_validate(report(sample_data, location={"lat": 1, "lon": 1, "address": "a" * 257}))


@pytest.mark.parametrize("category", [c.value for c in ev.ReportCategory])
def test_every_category(category, sample_data) -> None:
    assert ev.ReportSubmitted.model_validate(report(sample_data, category=category)).category == category


def test_category_set_is_the_contract() -> None:
    assert {c.value for c in ev.ReportCategory} == {
        "shared_bike_parking",
        "fire_hazard",
        "traffic_safety",
        "road_damage",
        "sanitation",
        "public_facility",
        "elderly_assistance",
        "other",
    }


def test_unknown_category_rejected(sample_data) -> None:
    with pytest.raises(ValidationError):
        ev.ReportSubmitted.model_validate(report(sample_data, category="graffiti"))


def test_submitted_at_needs_an_offset(sample_data) -> None:
    with pytest.raises(ValidationError):
        ev.ReportSubmitted.model_validate(report(sample_data, submitted_at="2026-11-21T08:30:00"))


def test_strings_are_stripped(sample_data) -> None:
    model = ev.ReportSubmitted.model_validate(report(sample_data, report_id="  r-1  ", description="  hi  "))
    assert model.report_id == "r-1"
    assert model.description == "hi"


# ------------------------------------------------------------------ report.rated


@pytest.mark.parametrize("rating", [1, 2, 3, 4, 5])
def test_rating_in_range(rating, sample_data) -> None:
    assert ev.ReportRated.model_validate(dict(sample_data("report.rated"), rating=rating)).rating == rating


@pytest.mark.parametrize("rating", [0, 6, -1, 4.5, "five", None])
def test_rating_out_of_range(rating, sample_data) -> None:
    with pytest.raises(ValidationError):
        ev.ReportRated.model_validate(dict(sample_data("report.rated"), rating=rating))


def test_comment_up_to_500_and_optional(sample_data) -> None:
    assert ev.ReportRated.model_validate(dict(sample_data("report.rated"), comment="评" * 500)).comment == "评" * 500
    with pytest.raises(ValidationError):
        ev.ReportRated.model_validate(dict(sample_data("report.rated"), comment="评" * 501))
    data = sample_data("report.rated")
    del data["comment"]
    assert ev.ReportRated.model_validate(data).comment == ""


# ------------------------------------------------------------------ volunteer


@pytest.mark.parametrize("hours", [0.01, 0.5, 2.7, 23.99, 24])
def test_hours_in_range(hours, sample_data) -> None:
    data = dict(sample_data("volunteer.attendance_confirmed"), hours=hours)
    assert ev.AttendanceConfirmed.model_validate(data).hours == hours


@pytest.mark.parametrize("hours", [0, -0.5, 24.0001, 25, float("nan"), float("inf")])
def test_hours_out_of_range(hours, sample_data) -> None:
    with pytest.raises(ValidationError):
        ev.AttendanceConfirmed.model_validate(dict(sample_data("volunteer.attendance_confirmed"), hours=hours))


# ------------------------------------------------------------------ report.status_changed


@pytest.mark.parametrize("reason", [r.value for r in ev.RejectionReason])
def test_rejected_with_each_reason(reason, sample_data) -> None:
    data = dict(sample_data("report.status_changed"), status="rejected", reason=reason)
    model = ev.ReportStatusChanged.model_validate(data)
    assert model.status is ev.ReportStatus.REJECTED
    assert model.reason == reason


def test_rejected_needs_a_reason(sample_data) -> None:
    data = dict(sample_data("report.status_changed"), status="rejected")
    with pytest.raises(ValidationError, match="needs a reason"):
        ev.ReportStatusChanged.model_validate(data)
    with pytest.raises(ValidationError):
        ev.ReportStatusChanged.model_validate(dict(data, reason=None))


def test_unknown_rejection_reason(sample_data) -> None:
    with pytest.raises(ValidationError):
        ev.ReportStatusChanged.model_validate(
            dict(sample_data("report.status_changed"), status="rejected", reason="spam")
        )


@pytest.mark.parametrize("status", ["dispatched", "accepted", "resolved"])
def test_other_statuses_need_no_reason(status, sample_data) -> None:
    data = sample_data("report.status_changed")
    data.pop("department")
    model = ev.ReportStatusChanged.model_validate(dict(data, status=status))
    assert model.reason is None
    assert model.department is None


@pytest.mark.parametrize("status", ["submitted", "closed", "REJECTED"])
def test_unknown_status(status, sample_data) -> None:
    with pytest.raises(ValidationError):
        ev.ReportStatusChanged.model_validate(dict(sample_data("report.status_changed"), status=status))


def test_note_up_to_1000(sample_data) -> None:
    data = sample_data("report.status_changed")
    assert ev.ReportStatusChanged.model_validate(dict(data, note="n" * 1000)).note == "n" * 1000
    with pytest.raises(ValidationError):
        ev.ReportStatusChanged.model_validate(dict(data, note="n" * 1001))


# ------------------------------------------------------------------ members


def test_locale_defaults_to_zh_cn(sample_data) -> None:
    data = sample_data("member.registered")
    del data["locale"]
    assert ev.MemberRegistered.model_validate(data).locale is ev.Locale.ZH_CN


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_locale_values(locale, sample_data) -> None:
    assert ev.MemberRegistered.model_validate(dict(sample_data("member.registered"), locale=locale)).locale == locale


@pytest.mark.parametrize("locale", ["zh_CN", "fr", "EN", ""])
def test_locale_unknown(locale, sample_data) -> None:
    with pytest.raises(ValidationError):
        ev.MemberRegistered.model_validate(dict(sample_data("member.registered"), locale=locale))


@pytest.mark.parametrize("occupation", ["courier", "food_delivery", "ride_hailing", "truck_driver", "other"])
def test_occupations(occupation, sample_data) -> None:
    data = dict(sample_data("member.registered"), occupation=occupation)
    assert ev.MemberRegistered.model_validate(data).occupation == occupation


def test_member_optional_fields(sample_data) -> None:
    data = sample_data("member.registered")
    for key in ("platform", "grid_id", "locale"):
        del data[key]
    model = ev.MemberUpdated.model_validate(data)
    assert model.platform is None
    assert model.grid_id is None


@pytest.mark.parametrize(("field", "limit"), [("name", 64), ("district", 64)])
def test_member_text_lengths(field, limit, sample_data) -> None:
    data = sample_data("member.registered")
    assert getattr(ev.MemberRegistered.model_validate(dict(data, **{field: "名" * limit})), field) == "名" * limit
    for bad in ("", "名" * (limit + 1)):
        with pytest.raises(ValidationError):
            ev.MemberRegistered.model_validate(dict(data, **{field: bad}))


def test_phone_is_not_in_repr(sample_data) -> None:
    model = ev.MemberRegistered.model_validate(sample_data("member.registered"))
    assert "13812345678" not in repr(model)


def test_reasons_are_required_and_bounded(sample_data) -> None:
    for type_ in ("member.deactivated", "volunteer.attendance_revoked"):
        model = ev.INBOUND_TYPES[type_]
        for bad in ("", "r" * 501):
            with pytest.raises(ValidationError):
                model.model_validate(dict(sample_data(type_), reason=bad))
        assert model.model_validate(dict(sample_data(type_), reason="r" * 500)).reason == "r" * 500


def test_inbound_models_are_frozen(sample_data) -> None:
    model = ev.ReportRated.model_validate(sample_data("report.rated"))
    with pytest.raises(ValidationError):
        model.rating = 1  # type: ignore[misc]


# ------------------------------------------------------------------ outbound


def test_outbound_models_forbid_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        ev.ReportRatingRecorded.model_validate(
            {"report_id": "r", "member_id": "m", "rating": 5, "rated_at": "2026-11-21T00:00:00Z", "extra": 1}
        )


def test_points_credited_amount_positive() -> None:
    base = {
        "member_id": "m-1",
        "transfer_id": "t-1",
        "kind": "report",
        "ref": "r-1",
        "reason": "fire_hazard",
        "rule_version": "2026-11-default",
        "balance": 10,
        "source_event": {"source": "/s", "id": "e"},
        "occurred_at": "2026-11-21T00:00:00Z",
    }
    assert ev.PointsCredited.model_validate(dict(base, amount=10)).source_event.id == "e"
    with pytest.raises(ValidationError):
        ev.PointsCredited.model_validate(dict(base, amount=0))


def test_all_types_is_union_without_overlap() -> None:
    groups = [ev.INBOUND_TYPES, ev.COMMAND_TYPES, ev.REPLY_TYPES, ev.PUBLISHED_TYPES]
    assert sum(len(g) for g in groups) == len(ev.ALL_TYPES)  # no type in two groups
    assert {k: v for g in groups for k, v in g.items()} == ev.ALL_TYPES
    assert set(ev.EventType.__args__) == set(ev.INBOUND_TYPES)


# ------------------------------------------------------------------ version 2: reopening


@pytest.mark.parametrize("reason", [r.value for r in ev.ReopenReason])
def test_reopened_with_each_reason(reason, sample_data) -> None:
    data = dict(sample_data("report.status_changed"), status="reopened", reason=reason)
    model = ev.ReportStatusChanged.model_validate(data)
    assert model.status is ev.ReportStatus.REOPENED
    assert model.reason is ev.ReopenReason(reason)


@pytest.mark.parametrize("reason", [None, "duplicate", "invalid"])
def test_reopened_needs_a_reopen_reason(reason, sample_data) -> None:
    data = dict(sample_data("report.status_changed"), status="reopened", reason=reason)
    with pytest.raises(ValidationError, match=re.escape("reopened report needs a reason: rework | bad_rating | other")):
        ev.ReportStatusChanged.model_validate(data)


@pytest.mark.parametrize("reason", ["cannot_help", "spam", ""])
def test_a_reason_of_no_vocabulary_is_refused(reason, sample_data) -> None:
    for status in ("reopened", "rejected", "dispatched"):
        with pytest.raises(ValidationError):
            ev.ReportStatusChanged.model_validate(
                dict(sample_data("report.status_changed"), status=status, reason=reason)
            )


@pytest.mark.parametrize("reason", [r.value for r in ev.ReopenReason])
def test_a_report_is_not_rejected_with_a_reopen_reason(reason, sample_data) -> None:
    data = dict(sample_data("report.status_changed"), status="rejected", reason=reason)
    with pytest.raises(ValidationError, match=re.escape("rejected report needs a reason: duplicate | invalid")):
        ev.ReportStatusChanged.model_validate(data)


def test_the_reason_vocabularies_never_overlap() -> None:
    # A reason alone says whether it rejects or reopens, for either kind.
    reopen = {r.value for r in ev.ReopenReason}
    assert reopen.isdisjoint(r.value for r in ev.RejectionReason)
    assert reopen.isdisjoint(r.value for r in ev.NeedRejectionReason)


def test_version_1_status_payloads_stay_valid(sample_data) -> None:
    # What producers sent before version 2: every old status, and a reason kept with any status.
    for status in ("dispatched", "accepted", "resolved"):
        assert ev.ReportStatusChanged.model_validate(dict(sample_data("report.status_changed"), status=status))
    kept = ev.ReportStatusChanged.model_validate(
        dict(sample_data("report.status_changed"), status="accepted", reason="duplicate")
    )
    assert kept.reason is ev.RejectionReason.DUPLICATE


def test_version_1_outbound_payloads_stay_valid() -> None:
    changed = ev.ReportLifecycleChanged.model_validate(
        {
            "report_id": "r-1",
            "member_id": "m-1",
            "category": "sanitation",
            "status": "rejected",
            "reason": "invalid",
            "department": "环卫",
            "changed_at": "2026-11-21T09:00:00+08:00",
        }
    )
    assert (changed.transfer, changed.previous_department) == (False, None)
    overdue = ev.ReportOverdue.model_validate(
        {
            "report_id": "r-1",
            "member_id": "m-1",
            "category": "sanitation",
            "district": "nanqu",
            "status": "dispatched",
            "submitted_at": "2026-11-21T09:00:00+08:00",
            "due_at": "2026-11-28T09:00:00+08:00",
            "overdue_at": "2026-11-28T09:01:00+08:00",
        }
    )
    assert (overdue.grid_id, overdue.district_source) == (None, None)


# ------------------------------------------------------------------ version 2: needs


@pytest.mark.parametrize("category", [c.value for c in ev.NeedCategory])
def test_every_need_category(category, sample_data) -> None:
    assert ev.NeedSubmitted.model_validate(dict(sample_data("need.submitted"), category=category)).category == category


def test_need_categories_are_the_contract() -> None:
    assert {c.value for c in ev.NeedCategory} == {
        "childcare",
        "legal_aid",
        "health",
        "housing",
        "training",
        "rest_and_charging",
        "other",
    }


@pytest.mark.parametrize("category", ["fire_hazard", "CHILDCARE", ""])
def test_a_report_category_is_not_a_need_category(category, sample_data) -> None:
    with pytest.raises(ValidationError):
        ev.NeedSubmitted.model_validate(dict(sample_data("need.submitted"), category=category))


def test_need_description_1_to_2000(sample_data) -> None:
    data = sample_data("need.submitted")
    assert len(ev.NeedSubmitted.model_validate(dict(data, description="托" * 2000)).description) == 2000
    for bad in ("", "   ", "托" * 2001):
        with pytest.raises(ValidationError):
            ev.NeedSubmitted.model_validate(dict(data, description=bad))


def test_need_location_is_optional(sample_data) -> None:
    data = sample_data("need.submitted")
    del data["location"]
    assert ev.NeedSubmitted.model_validate(data).location is None
    with pytest.raises(ValidationError):
        ev.NeedSubmitted.model_validate(dict(data, location={"lat": 91, "lon": 0}))


def test_a_phone_in_a_need_description_is_masked(sample_data) -> None:
    model = ev.NeedSubmitted.model_validate(dict(sample_data("need.submitted"), description="请打 13812345678"))
    assert "13812345678" not in model.description


@pytest.mark.parametrize("reason", [r.value for r in ev.NeedRejectionReason])
def test_a_need_is_rejected_with_its_reasons(reason, sample_data) -> None:
    model = ev.NeedStatusChanged.model_validate(
        dict(sample_data("need.status_changed"), status="rejected", reason=reason)
    )
    assert model.reason is ev.NeedRejectionReason(reason)


@pytest.mark.parametrize("reason", [None, "rework"])
def test_a_need_is_not_rejected_without_a_rejection_reason(reason, sample_data) -> None:
    data = dict(sample_data("need.status_changed"), status="rejected", reason=reason)
    expected = "rejected need needs a reason: duplicate | out_of_scope | cannot_help"
    with pytest.raises(ValidationError, match=re.escape(expected)):
        ev.NeedStatusChanged.model_validate(data)


@pytest.mark.parametrize("reason", ["invalid", "fraudulent", "spam"])
def test_a_need_is_not_rejected_with_report_reasons(reason, sample_data) -> None:
    data = dict(sample_data("need.status_changed"), status="rejected", reason=reason)
    with pytest.raises(ValidationError):
        ev.NeedStatusChanged.model_validate(data)


@pytest.mark.parametrize("status", [s.value for s in ev.NeedStatus])
def test_a_need_has_the_statuses_of_a_report(status, sample_data) -> None:
    assert {s.value for s in ev.NeedStatus} == {s.value for s in ev.ReportStatus}
    reason = {"rejected": "cannot_help", "reopened": "bad_rating"}.get(status)
    model = ev.NeedStatusChanged.model_validate(dict(sample_data("need.status_changed"), status=status, reason=reason))
    assert model.status == status


@pytest.mark.parametrize("rating", [0, 6, "five"])
def test_need_rating_in_range(rating, sample_data) -> None:
    with pytest.raises(ValidationError):
        ev.NeedRated.model_validate(dict(sample_data("need.rated"), rating=rating))


def test_need_rating_comment_up_to_500(sample_data) -> None:
    assert ev.NeedRated.model_validate(dict(sample_data("need.rated"), comment="好" * 500)).rating == 4
    with pytest.raises(ValidationError):
        ev.NeedRated.model_validate(dict(sample_data("need.rated"), comment="好" * 501))


def test_need_lifecycle_carries_submitted_and_every_status() -> None:
    assert {s.value for s in ev.CaseState} == {"submitted"} | {s.value for s in ev.NeedStatus}
    base = {
        "need_id": "n-1",
        "member_id": "m-1",
        "category": "legal_aid",
        "changed_at": "2026-11-21T09:00:00+08:00",
    }
    assert ev.NeedLifecycleChanged.model_validate(dict(base, status="submitted")).transfer is False
    moved = ev.NeedLifecycleChanged.model_validate(
        dict(base, status="dispatched", department="D2", previous_department="D1", transfer=True)
    )
    assert moved.previous_department == "D1"
    with pytest.raises(ValidationError):
        ev.NeedLifecycleChanged.model_validate(dict(base, status="rejected", reason="invalid"))


# ------------------------------------------------------------------ version 2: directory


def test_department_districts_default_to_all(sample_data) -> None:
    data = sample_data("department.registered")
    del data["districts"]
    assert ev.DepartmentRegistered.model_validate(data).districts == []


@pytest.mark.parametrize(
    "districts", [["nanqu", "nanqu"], [""], ["x" * 65], [f"d{i}" for i in range(101)], "nanqu", None]
)
def test_department_districts_are_checked(districts, sample_data) -> None:
    with pytest.raises(ValidationError):
        ev.DepartmentRegistered.model_validate(dict(sample_data("department.registered"), districts=districts))


@pytest.mark.parametrize(("field", "value"), [("name", ""), ("name", "n" * 129), ("department_id", "has space")])
def test_department_fields_are_bounded(field, value, sample_data) -> None:
    for type_ in ("department.registered", "department.updated"):
        with pytest.raises(ValidationError):
            ev.INBOUND_TYPES[type_].model_validate(dict(sample_data(type_), **{field: value}))


def test_version_2_types_are_registered() -> None:
    assert {
        "need.submitted",
        "need.status_changed",
        "need.rated",
        "department.registered",
        "department.updated",
    } <= set(ev.INBOUND_TYPES)
    assert {"need.lifecycle_changed", "need.rating_recorded", "need.overdue"} <= set(ev.PUBLISHED_TYPES)


@pytest.mark.parametrize(
    ("field", "value"), [("kind", "bank"), ("location", {"lat": 91, "lon": 0}), ("name", ""), ("provider_id", "a b")]
)
def test_provider_fields_are_checked(field, value, sample_data) -> None:
    for type_ in ("provider.registered", "provider.updated"):
        with pytest.raises(ValidationError):
            ev.INBOUND_TYPES[type_].model_validate(dict(sample_data(type_), **{field: value}))
