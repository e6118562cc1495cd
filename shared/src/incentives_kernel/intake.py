"""The intake check: may this source send this event type on this topic, and is it really from it?

Records carry no broker principal, and the embedded broker (Tansu) enforces no ACLs, so the
consumer itself decides who may say what (OWASP API10: events from other systems are untrusted):

- an allow-list maps topic -> event type -> source patterns (`sources.toml` next to this module,
  or the deployment's INCENTIVES_SOURCES_FILE). Anything else is `source_not_allowed`.
- a source with signing keys configured must sign each record: header `ce-signature` holds one or
  more `v1,<base64 HMAC-SHA256>` (several while keys rotate) over `<id>.<ts>.<value bytes>`, and
  `ce-signature-ts` the Unix time in seconds. Missing -> `signature_missing`, no key matches ->
  `bad_signature`, outside the window -> `signature_expired`.

A reject raises `InvalidEvent`, so the consumer dead-letters it like any bad record: claimed by its
Kafka position, never by its (source, id), so a forged event cannot suppress the genuine one.
Messages name topic, type and source (they passed the envelope's shape checks), never the data.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .envelope import ParsedEvent
from .errors import InvalidEvent
from .logging import redact_text
from .settings import ServiceSettings

SIGNATURE_HEADER = "ce-signature"
SIGNATURE_TS_HEADER = "ce-signature-ts"
DEFAULT_TOLERANCE_S = 300
_MAX_SIGNATURES = 8  # a header listing more is not rotation, it is guessing

DEFAULT_SOURCES = resources.files("incentives_kernel") / "sources.toml"


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """`/district/*/rider-app` -> one segment per `*`; a trailing `/**` matches any deeper path."""
    if not pattern.startswith("/") and pattern != "*":
        raise ValueError(f"source pattern {pattern!r} must start with '/'")
    if pattern == "*":
        raise ValueError("a bare '*' would admit every source; list the systems instead")
    parts = pattern.split("/")
    out = []
    for i, part in enumerate(parts):
        if part == "**":
            if i != len(parts) - 1:
                raise ValueError(f"'**' may only end a source pattern: {pattern!r}")
            out.append(r"[^\s]+")
        elif part == "*":
            out.append(r"[^/\s]+")
        elif "*" in part:
            raise ValueError(f"'*' must be a whole segment in {pattern!r}")
        else:
            out.append(re.escape(part))
    return re.compile("/".join(out))


def _type_matches(rule: str, event_type: str) -> bool:
    if rule == "*":
        return True
    if rule.endswith(".*"):
        return event_type.startswith(rule[:-1])
    return rule == event_type


MAX_VERDICTS = 10_000


@dataclass(frozen=True, slots=True)
class SourcePolicy:
    """topic -> [(type rule, compiled source patterns)]. A topic not listed admits nothing."""

    rules: Mapping[str, tuple[tuple[str, tuple[re.Pattern[str], ...]], ...]]
    version: int = 1
    verdicts: dict[tuple[str, str, str], bool] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_mapping(cls, doc: Mapping[str, Any]) -> SourcePolicy:
        topics = doc.get("topics")
        if not isinstance(topics, Mapping) or not topics:
            raise ValueError("source policy: a non-empty [topics] table is required")
        rules: dict[str, tuple[tuple[str, tuple[re.Pattern[str], ...]], ...]] = {}
        for topic, by_type in topics.items():
            if not isinstance(by_type, Mapping):
                raise ValueError(f"source policy: topic {topic!r} must map event types to source lists")
            entries = []
            for type_rule, patterns in by_type.items():
                if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
                    raise ValueError(f"source policy: {topic} {type_rule} must be a list of source patterns")
                entries.append((type_rule, tuple(compile_pattern(p) for p in patterns)))
            rules[topic] = tuple(entries)
        return cls(rules, int(doc.get("version", 1)))

    @classmethod
    def load(cls, path: str | Path | None = None, extra_sources: Sequence[str] = ()) -> SourcePolicy:
        """The policy from `path` (.toml or .json), else the packaged default; `extra_sources` are
        admitted for every listed topic and type (the embedded dev stack's test producers)."""
        if path:
            text = Path(path).read_text(encoding="utf-8")
            doc = json.loads(text) if str(path).endswith(".json") else tomllib.loads(text)
        else:
            doc = tomllib.loads(DEFAULT_SOURCES.read_text(encoding="utf-8"))
        if extra_sources:
            doc = {
                **doc,
                "topics": {
                    t: {k: [*v, *extra_sources] for k, v in by_type.items()} for t, by_type in doc["topics"].items()
                },
            }
        return cls.from_mapping(doc)

    def allows(self, topic: str, event_type: str, source: str) -> bool:
        # Asked for every record, with few distinct answers: the verdicts are kept (bounded), since
        # matching the patterns was 4.5% of the points service's time under load (docs/benchmarks).
        key = (topic, event_type, source)
        verdict = self.verdicts.get(key)
        if verdict is None:
            verdict = any(
                _type_matches(type_rule, event_type) and any(p.fullmatch(source) for p in patterns)
                for type_rule, patterns in self.rules.get(topic, ())
            )
            if len(self.verdicts) >= MAX_VERDICTS:
                self.verdicts.clear()
            self.verdicts[key] = verdict
        return verdict


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """Source pattern -> its current keys (several while rotating). A matching source must sign."""

    keys: tuple[tuple[re.Pattern[str], tuple[bytes, ...]], ...] = ()

    @classmethod
    def from_json(cls, text: str) -> SigningKeys:
        """`{"/district/*/dispatch": ["key-2026-11", "key-2026-05"], ...}` (keys as text)."""
        if not text.strip():
            return cls()
        doc = json.loads(text)
        if not isinstance(doc, dict):
            raise ValueError("signing keys: a JSON object of source pattern -> list of keys is required")
        out = []
        for pattern, keys in doc.items():
            if isinstance(keys, str):
                keys = [keys]
            if not keys or not all(isinstance(k, str) and len(k) >= 16 for k in keys):
                raise ValueError(f"signing keys for {pattern!r}: each key must be text of 16 characters or more")
            out.append((compile_pattern(pattern), tuple(k.encode() for k in keys)))
        return cls(tuple(out))

    def for_source(self, source: str) -> tuple[bytes, ...]:
        return tuple(k for pattern, keys in self.keys if pattern.fullmatch(source) for k in keys)


def signing_input(event_id: str, ts: int, body: bytes) -> bytes:
    return f"{event_id}.{ts}.".encode() + body


def sign(key: bytes | str, event_id: str, body: bytes, ts: int | None = None) -> list[tuple[str, bytes]]:
    """The Kafka headers that sign `body` (the record value) as the event `event_id`."""
    ts = int(time.time()) if ts is None else ts
    k = key.encode() if isinstance(key, str) else key
    mac = base64.b64encode(hmac.new(k, signing_input(event_id, ts, body), hashlib.sha256).digest()).decode()
    return [(SIGNATURE_HEADER, f"v1,{mac}".encode()), (SIGNATURE_TS_HEADER, str(ts).encode())]


def _shown(source: str) -> str:
    # The source passed the envelope's shape check, but a producer may still have put a phone in it.
    return repr(redact_text(source[:128]))


def _header(headers: Iterable[tuple[str, bytes]], name: str) -> bytes | None:
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


@dataclass(frozen=True, slots=True)
class Intake:
    """What the consumer checks right after parsing, before the event may have any effect."""

    policy: SourcePolicy
    signing: SigningKeys = field(default_factory=SigningKeys)
    tolerance_s: int = DEFAULT_TOLERANCE_S
    clock: Callable[[], float] = time.time

    def check(
        self,
        topic: str,
        event: ParsedEvent,
        value: bytes,
        headers: Sequence[tuple[str, bytes]],
        *,
        replayed: bool = False,
    ) -> None:
        """Raise `InvalidEvent` unless this source may send this event here, signed if it must be.

        An operator's DLQ replay (`replayed`) keeps the original signature, which is then older than
        the window: the signature must still verify, only its age is not held against it."""
        env = event.envelope
        if not self.policy.allows(topic, env.type, env.source):
            raise InvalidEvent("source_not_allowed", f"source {_shown(env.source)} may not send {env.type} on {topic}")
        keys = self.signing.for_source(env.source)
        if not keys:
            return
        raw_sigs, raw_ts = _header(headers, SIGNATURE_HEADER), _header(headers, SIGNATURE_TS_HEADER)
        if raw_sigs is None or raw_ts is None:
            missing = f"source {_shown(env.source)} must sign: no {SIGNATURE_HEADER} header"
            raise InvalidEvent("signature_missing", missing)
        try:
            ts = int(raw_ts.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            raise InvalidEvent("bad_signature", f"{SIGNATURE_TS_HEADER} is not a Unix time in seconds") from None
        offered = raw_sigs.decode("ascii", errors="replace").split()[:_MAX_SIGNATURES]
        expected = [
            base64.b64encode(hmac.new(k, signing_input(env.id, ts, value), hashlib.sha256).digest()) for k in keys
        ]
        good = any(s.startswith("v1,") and hmac.compare_digest(s[3:].encode(), e) for s in offered for e in expected)
        if not good:
            raise InvalidEvent("bad_signature", f"no valid v1 signature from {_shown(env.source)} for {env.type}")
        age = self.clock() - ts
        if not replayed and abs(age) > self.tolerance_s:
            raise InvalidEvent(
                "signature_expired",
                f"signature time is {int(age)} s from now (window {self.tolerance_s} s) for {_shown(env.source)}",
            )


def intake_from_settings(settings: ServiceSettings) -> Intake:
    """The service's intake check from its settings (`ServiceSettings`)."""
    extra = tuple(s.strip() for s in settings.sources_extra.split(",") if s.strip())
    return Intake(
        policy=SourcePolicy.load(settings.sources_file or None, extra),
        signing=SigningKeys.from_json(settings.source_signing_keys.get_secret_value()),
        tolerance_s=settings.signature_tolerance_s,
    )
