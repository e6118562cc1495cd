"""zh-CN and en: message catalogues as data files (messages/<locale>.json), and which one a request gets.

A catalogue is a flat JSON object from a dotted key to a text with optional `{name}` fields. Both
catalogues must have the same keys (a test holds them to it, and to the keys the templates use); a key
missing at run time shows as itself rather than failing the page.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

LOCALES = ("zh-CN", "en")
COOKIE = "console_lang"

log = logging.getLogger(__name__)


@cache
def catalogue(locale: str) -> dict[str, str]:
    text = resources.files("incentives_console").joinpath(f"messages/{locale}.json").read_text(encoding="utf-8")
    loaded: dict[str, str] = json.loads(text)
    return loaded


def known(locale: str | None) -> str | None:
    """The supported locale a language tag means (zh, zh-CN, zh-Hans-CN -> zh-CN; en-GB -> en), or None."""
    if not locale:
        return None
    primary = locale.strip().lower().replace("_", "-").split("-")[0]
    return {"zh": "zh-CN", "en": "en"}.get(primary)


def negotiate(accept_language: str | None, default: str) -> str:
    """The best of our locales for an Accept-Language header (RFC 9110 weights), else `default`."""
    choices: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                weight = float(params[2:])
            except ValueError:
                continue
        locale = known(tag)
        if locale and weight > 0:
            choices.append((-weight, position, locale))
    return min(choices)[2] if choices else default


@dataclass(frozen=True)
class Translator:
    locale: str

    def __call__(self, key: str, **fields: Any) -> str:
        text = catalogue(self.locale).get(key)
        if text is None:
            log.warning("no text for %s in %s", key, self.locale)
            return key
        return text.format(**fields) if fields else text

    def has(self, key: str) -> bool:
        return key in catalogue(self.locale)

    def label(self, group: str, value: str | None) -> str:
        """A value from a service (a status, a category) in words, or as it came when we have none."""
        if value is None:
            return "–"
        key = f"{group}.{value}"
        return self(key) if self.has(key) else value
