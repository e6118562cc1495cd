"""Notification texts from the template files, zh-CN by default and en by preference. Pure.

A kind missing in the rider's language falls back to zh-CN, and says so in the log (a rider still
gets a text, an operator sees why it is not in their language). `missing_translations()` reports
every kind missing in a language and every kind whose placeholders differ from zh-CN's; the tests
fail on any, so a drifted translation never reaches production.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import structlog

log = structlog.get_logger(__name__)

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
        log.warning("template missing in locale: falling back", kind=kind, locale=locale, fallback=DEFAULT_LOCALE)
        locale, template = DEFAULT_LOCALE, _templates(DEFAULT_LOCALE)[kind]
    return Text(title=template["title"].format(**fields), body=template["body"].format(**fields), locale=locale)


def reason_text(reason: str | None, locale: str) -> str:
    table = _reasons().get(locale, _reasons()[DEFAULT_LOCALE])
    return table.get(reason or "none", table["none"])


def _placeholders(template: dict[str, str]) -> set[str]:
    return {name for text in template.values() for _, name, _, _ in string.Formatter().parse(text) if name}


def missing_translations() -> list[str]:
    default = _templates(DEFAULT_LOCALE)
    problems = []
    for loc in LOCALES:
        mine = _templates(loc)
        for kind in sorted(default):
            if kind not in mine:
                problems.append(f"{loc}:{kind}")
            elif _placeholders(mine[kind]) != _placeholders(default[kind]):
                problems.append(f"{loc}:{kind} placeholders")
    return problems
