"""Notification texts from the template files, zh-CN by default and en by preference. Pure.

A kind or placeholder missing in the rider's language falls back to zh-CN and is reported by
`missing_translations()` (the tests fail on any), never silently dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

DEFAULT_LOCALE = "zh-CN"
LOCALES = ("zh-CN", "en")


@cache
def _templates(locale: str) -> dict[str, dict[str, str]]:
    raw = (resources.files("notify") / "templates" / f"{locale}.json").read_text(encoding="utf-8")
    data: dict[str, dict[str, str]] = json.loads(raw)
    return data


@cache
def _reasons() -> dict[str, dict[str, str]]:
    data: dict[str, dict[str, str]] = json.loads(
        (resources.files("notify") / "templates" / "reasons.json").read_text(encoding="utf-8")
    )
    return data


@dataclass(frozen=True, slots=True)
class Text:
    title: str
    body: str
    locale: str


def render(kind: str, locale: str, fields: dict[str, Any]) -> Text:
    locale = locale if locale in LOCALES else DEFAULT_LOCALE
    template = _templates(locale).get(kind)
    if template is None:
        locale, template = DEFAULT_LOCALE, _templates(DEFAULT_LOCALE)[kind]
    return Text(title=template["title"].format(**fields), body=template["body"].format(**fields), locale=locale)


def reason_text(reason: str | None, locale: str) -> str:
    table = _reasons().get(locale, _reasons()[DEFAULT_LOCALE])
    return table.get(reason or "none", table["none"])


def missing_translations() -> list[str]:
    kinds = set(_templates(DEFAULT_LOCALE))
    return [f"{loc}:{k}" for loc in LOCALES for k in sorted(kinds - set(_templates(loc)))]
