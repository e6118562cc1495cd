"""The intake check: may this source send this event type on this topic, is it really from it, and is it on time?

Records carry no broker principal, and the embedded broker (Tansu) enforces no ACLs, so the
consumer itself decides who may say what (OWASP API10: events from other systems are untrusted):

- an allow-list maps topic -> event type -> source patterns (`sources.toml` next to this module,
  or the deployment's INCENTIVES_SOURCES_FILE). Anything else is `source_not_allowed`.
- a source with signing keys configured must sign each record (Standard Webhooks, signing.py, with
  `webhook-id` the CloudEvent id): missing -> `signature_missing`, no key matches or another id ->
  `bad_signature`, outside the window -> `signature_expired`.
- who may decide: the policy's `decisions` are the event types that mint or take points or rank.
  Outside the development run each must be proven: by a signature required for its source, or by
  arriving on a topic the deployment declares exclusive to one broker principal (its ACLs let
  nobody else write it). A decision with neither is `unproven_source`, and a configuration that
  leaves any decision provable by nobody refuses to start (`proof_problems`).
- time: a CloudEvent `time`, or any `*_at` in its data that says when something happened (not a
  deadline such as `expires_at`, DEADLINE_FIELDS), more than the allowed skew in the future is
  `time_in_future` (a future time would make every later update look stale).
- a dead-letter replay marker (replay.py) is honoured only if it authenticates with the replay
  key; one that does not is `bad_replay_marker`.

A reject raises `InvalidEvent`, so the consumer dead-letters it like any bad record: claimed by its
Kafka position, never by its (source, id), so a forged event cannot suppress the genuine one.
Messages name topic, type and source (they passed the envelope's shape checks), never the data.
"""

from __future__ import annotations

import json
import re
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from . import replay as replay_marker
from . import signing
from .envelope import ParsedEvent
from .errors import InvalidEvent
from .logging import redact_text

if TYPE_CHECKING:
    from .settings import ServiceSettings

DEFAULT_TOLERANCE_S = 300
DEFAULT_TIME_SKEW_S = 300

DEFAULT_SOURCES = resources.files("incentives_kernel") / "sources.toml"


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """`/district/*/rider-app` -> one segment per `*`; a trailing `/**` matches any deeper path."""
    _check_pattern(pattern)
    out = []
    for part in pattern.split("/"):
        if part == "**":
            out.append(r"[^\s]+")
        elif part == "*":
            out.append(r"[^/\s]+")
        else:
            out.append(re.escape(part))
    return re.compile("/".join(out))


def _check_pattern(pattern: str) -> None:
    if pattern == "*":
        raise ValueError("a bare '*' would admit every source; list the systems instead")
    if not pattern.startswith("/"):
        raise ValueError(f"source pattern {pattern!r} must start with '/'")
    parts = pattern.split("/")
    for i, part in enumerate(parts):
        if part == "**" and i != len(parts) - 1:
            raise ValueError(f"'**' may only end a source pattern: {pattern!r}")
        if "*" in part and part not in ("*", "**"):
            raise ValueError(f"'*' must be a whole segment in {pattern!r}")


def pattern_covers(outer: str, inner: str) -> bool:
    """Whether every source `inner` matches is also matched by `outer` (both valid patterns)."""
    o, i = outer.split("/"), inner.split("/")
    for n, seg in enumerate(o):
        if seg == "**":  # the rest: one or more characters, so `inner` must have something here
            return n < len(i) and i[n] != ""
        if n >= len(i) or i[n] == "**":
            return False
        if seg == "*":
            if i[n] == "":
                return False
        elif seg != i[n]:
            return False
    return len(i) == len(o)


def _type_matches(rule: str, event_type: str) -> bool:
    if rule == "*":
        return True
    if rule.endswith(".*"):
        return event_type.startswith(rule[:-1])
    return rule == event_type


def _types_overlap(a: str, b: str) -> bool:
    """Whether some event type matches both type rules."""
    if a == "*" or b == "*":
        return True
    if a.endswith(".*") and b.endswith(".*"):
        return a.startswith(b[:-1]) or b.startswith(a[:-1])
    if a.endswith(".*"):
        return _type_matches(a, b)
    if b.endswith(".*"):
        return _type_matches(b, a)
    return a == b


MAX_VERDICTS = 10_000

Rule = tuple[str, tuple[re.Pattern[str], ...], tuple[str, ...]]  # type rule, compiled patterns, as written


def _packaged() -> dict[str, Any]:
    return tomllib.loads(DEFAULT_SOURCES.read_text(encoding="utf-8"))


def _str_list(value: object, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"source policy: {what} must be a list of strings")
    return list(value)


@dataclass(frozen=True, slots=True)
class SourcePolicy:
    """topic -> [(type rule, source patterns)]; which types decide; which topics one principal owns.

    A topic not listed admits nothing. `decisions`: type rules (exact, `prefix.*` or `*`) of the
    events that mint or take points or rank. `exclusive`: topic -> the broker principal that alone
    may write it, as the deployment's ACLs guarantee (never true of the embedded broker).
    """

    rules: Mapping[str, tuple[Rule, ...]]
    version: int = 1
    decisions: tuple[str, ...] = ()
    exclusive: Mapping[str, str] = field(default_factory=dict)
    verdicts: dict[tuple[str, str, str], bool] = field(default_factory=dict, compare=False, repr=False)
    decides: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_mapping(cls, doc: Mapping[str, Any]) -> SourcePolicy:
        topics = doc.get("topics")
        if not isinstance(topics, Mapping) or not topics:
            raise ValueError("source policy: a non-empty [topics] table is required")
        rules: dict[str, tuple[Rule, ...]] = {}
        for topic, by_type in topics.items():
            if not isinstance(by_type, Mapping):
                raise ValueError(f"source policy: topic {topic!r} must map event types to source lists")
            entries = []
            for type_rule, patterns in by_type.items():
                written = _str_list(patterns, f"{topic} {type_rule}")
                entries.append((type_rule, tuple(compile_pattern(p) for p in written), tuple(written)))
            rules[topic] = tuple(entries)
        decisions = tuple(_str_list(doc.get("decisions", []), "decisions"))
        return cls(rules, int(doc.get("version", 1)), decisions)

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        extra_sources: Sequence[str] = (),
        exclusive: Mapping[str, str] | None = None,
    ) -> SourcePolicy:
        """The packaged policy, with what the deployment's file at `path` (.toml or .json) says.

        The file's `[topics]`, if it has them, replace the packaged ones; its `decisions` are added to
        the packaged ones (a deployment may make more types decisions, never fewer). `exclusive` is the
        deployment's word about its broker's ACLs (INCENTIVES_EXCLUSIVE_TOPICS, `parse_exclusive`).
        `extra_sources` are admitted for every listed topic and type (the dev stack's test producers).
        """
        doc = _packaged()
        if path:
            text = Path(path).read_text(encoding="utf-8")
            own = json.loads(text) if str(path).endswith(".json") else tomllib.loads(text)
            doc = {
                **doc,
                **{k: v for k, v in own.items() if k != "decisions"},
                "decisions": [*_str_list(doc.get("decisions", []), "decisions"), *own.get("decisions", [])],
            }
        if extra_sources:
            doc = {
                **doc,
                "topics": {
                    t: {k: [*v, *extra_sources] for k, v in by_type.items()} for t, by_type in doc["topics"].items()
                },
            }
        policy = cls.from_mapping(doc)
        unknown = sorted(set(exclusive or {}) - set(policy.rules))
        if unknown:
            raise ValueError(f"exclusive topics the policy has no rules for: {', '.join(unknown)}")
        return cls(policy.rules, policy.version, policy.decisions, dict(exclusive or {}))

    def allows(self, topic: str, event_type: str, source: str) -> bool:
        # Asked for every record, with few distinct answers: the verdicts are kept (bounded), since
        # matching the patterns was 4.5% of the points service's time under load (docs/benchmarks).
        key = (topic, event_type, source)
        verdict = self.verdicts.get(key)
        if verdict is None:
            verdict = any(
                _type_matches(type_rule, event_type) and any(p.fullmatch(source) for p in patterns)
                for type_rule, patterns, _ in self.rules.get(topic, ())
            )
            if len(self.verdicts) >= MAX_VERDICTS:
                self.verdicts.clear()
            self.verdicts[key] = verdict
        return verdict

    def is_decision(self, event_type: str) -> bool:
        """Whether events of this type mint or take points or rank (must be proven in production)."""
        verdict = self.decides.get(event_type)
        if verdict is None:
            verdict = any(_type_matches(rule, event_type) for rule in self.decisions)
            if len(self.decides) < MAX_VERDICTS:
                self.decides[event_type] = verdict
        return verdict

    def decision_rules(self) -> Iterator[tuple[str, str, tuple[str, ...], tuple[str, ...]]]:
        """(topic, type rule, decision type rules it may carry, source patterns) for every rule that may decide."""
        for topic, entries in self.rules.items():
            for type_rule, _, written in entries:
                carried = tuple(d for d in self.decisions if _types_overlap(type_rule, d))
                if carried:
                    yield topic, type_rule, carried, written


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """Source pattern -> its current keys (several while rotating). A matching source must sign."""

    keys: tuple[tuple[str, re.Pattern[str], tuple[bytes, ...]], ...] = ()

    @classmethod
    def from_json(cls, text: str) -> SigningKeys:
        """`{"/district/*/dispatch": ["whsec_<new>", "whsec_<old>"], ...}` (Standard Webhooks secrets)."""
        if not text.strip():
            return cls()
        try:
            doc = json.loads(text)
        except ValueError:
            raise ValueError("signing keys: not JSON; a JSON object of source pattern -> list of secrets") from None
        if not isinstance(doc, dict):
            raise ValueError("signing keys: a JSON object of source pattern -> list of secrets is required")
        out = []
        for pattern, keys in doc.items():
            if isinstance(keys, str):
                keys = [keys]
            if not keys or not all(isinstance(k, str) for k in keys):
                raise ValueError(f"signing keys for {pattern!r}: a non-empty list of whsec_ secrets")
            try:
                parsed = tuple(signing.parse_secret(k) for k in keys)
            except signing.SecretError as exc:
                raise ValueError(f"signing keys for {pattern!r}: {exc}") from None
            out.append((pattern, compile_pattern(pattern), parsed))
        return cls(tuple(out))

    def for_source(self, source: str) -> tuple[bytes, ...]:
        return tuple(k for _, pattern, keys in self.keys if pattern.fullmatch(source) for k in keys)

    def covers(self, pattern: str) -> bool:
        """Whether every source `pattern` admits must sign (some keyed pattern matches all of them)."""
        return any(pattern_covers(written, pattern) for written, _, _ in self.keys)


def parse_exclusive(text: str) -> dict[str, str]:
    """`incentives.volunteer.v1=volunteer-platform,...`: each topic only that broker principal may write."""
    out: dict[str, str] = {}
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        topic, sep, principal = (part.strip() for part in entry.partition("="))
        if not sep or not topic or not principal:
            raise ValueError(f"{entry!r} is not <topic>=<principal>")
        if topic in out:
            raise ValueError(f"topic {topic} is named twice")
        out[topic] = principal
    return out


def proof_problems(policy: SourcePolicy, keys: SigningKeys) -> list[str]:
    """Every (topic, decision, source pattern) that nobody can prove: no required signature, no exclusive topic."""
    problems: list[str] = []
    for topic, type_rule, carried, patterns in policy.decision_rules():
        if topic in policy.exclusive:
            continue
        shown = type_rule if type_rule != "*" else "any type (" + ", ".join(carried[:4]) + ", ...)"
        problems.extend(f"{shown} on {topic} from {p!r}" for p in patterns if not keys.covers(p))
    return problems


def proof_error(problems: Sequence[str]) -> str:
    """The start-up refusal: what is unproven and both ways to fix it."""
    listed = "; ".join(problems[:12]) + (f"; and {len(problems) - 12} more" if len(problems) > 12 else "")
    return (
        "who may decide: in production every event that mints or takes points or rank must be proven, and these "
        f"are provable by nobody: {listed}. Fix: require a signature from each such source "
        '(INCENTIVES_SOURCE_SIGNING_KEYS, e.g. {"/dispatch/**": ["whsec_..."]}), or, where the broker\'s ACLs let '
        "only one principal write the topic, declare it exclusive to that principal "
        "(INCENTIVES_EXCLUSIVE_TOPICS, e.g. incentives.volunteer.v1=volunteer-platform); see docs/security-intake.md"
    )


def _shown(source: str) -> str:
    # The source passed the envelope's shape check, but a producer may still have put a phone in it.
    return repr(redact_text(source[:128]))


# `*_at` fields that name a deadline, not a moment that has passed: they lie in the future by design.
DEADLINE_FIELDS = frozenset({"due_at", "expires_at", "ends_at", "notice_ends_at"})


@cache
def _time_fields(model: type[BaseModel]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the `*_at` fields that say when something happened, every field) of a data model."""
    names = tuple(model.model_fields)
    return tuple(n for n in names if n.endswith("_at") and n not in DEADLINE_FIELDS), names


def _times(data: BaseModel, depth: int = 0) -> Iterator[tuple[str, datetime]]:
    at_fields, names = _time_fields(type(data))
    for name in at_fields:
        value = getattr(data, name, None)
        if isinstance(value, datetime):
            yield name, value
    if depth < 2:
        for name in names:
            value = getattr(data, name, None)
            if isinstance(value, BaseModel):
                for inner, at in _times(value, depth + 1):
                    yield f"{name}.{inner}", at


def _epoch(at: datetime) -> float:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


@dataclass(frozen=True, slots=True)
class Intake:
    """What the consumer checks right after parsing, before the event may have any effect."""

    policy: SourcePolicy
    signing: SigningKeys = field(default_factory=SigningKeys)
    tolerance_s: int = DEFAULT_TOLERANCE_S
    clock: Callable[[], float] = time.time
    require_proof: bool = False  # production: decisions only from a proven producer
    time_skew_s: int = DEFAULT_TIME_SKEW_S
    replay_key: str = ""
    service: str = ""

    def check(
        self,
        topic: str,
        event: ParsedEvent,
        value: bytes,
        headers: Sequence[tuple[str, bytes]],
    ) -> replay_marker.Replay | None:
        """Raise `InvalidEvent` unless this source may send this event here, proven where it must be.

        Returns the authenticated replay the record is (an operator's `incentives dlq replay`), else
        None. A replay keeps the original signature, which is then older than the window: it must
        still verify, only its age is not held against it. The engine takes this (never the headers)
        as what makes the record a replay, and lets it reopen a dead letter only for the service the
        marker names (`Replay.for_service`).
        """
        now = self.clock()
        env = event.envelope
        replay = replay_marker.verify(self.replay_key, topic=topic, headers=headers, value=value, now=now)
        if not self.policy.allows(topic, env.type, env.source):
            raise InvalidEvent("source_not_allowed", f"source {_shown(env.source)} may not send {env.type} on {topic}")
        keys = self.signing.for_source(env.source)
        if keys:
            try:
                signed = signing.verify(keys, headers, value, now=now, tolerance_s=None if replay else self.tolerance_s)
            except signing.BadSignature as exc:
                raise InvalidEvent(exc.reason, f"{exc.message}: {env.type} from {_shown(env.source)}") from None
            if signed.message_id != env.id:  # a record's webhook-id is its CloudEvent id: one name per event
                raise InvalidEvent(
                    "bad_signature", f"{signing.ID_HEADER} is not the event's id: {env.type} from {_shown(env.source)}"
                )
        elif self.require_proof and topic not in self.policy.exclusive and self.policy.is_decision(env.type):
            raise InvalidEvent(
                "unproven_source",
                f"{env.type} decides and {_shown(env.source)} proves nothing: no signature is required of it "
                f"and {topic} is not exclusive to one principal",
            )
        self._check_time(event, now)
        return replay

    def _check_time(self, event: ParsedEvent, now: float) -> None:
        limit = now + self.time_skew_s
        if _epoch(event.envelope.time) > limit:
            ahead = int(_epoch(event.envelope.time) - now)
            raise InvalidEvent("time_in_future", f"time is {ahead} s in the future (at most {self.time_skew_s} s)")
        for name, at in _times(event.data):
            if _epoch(at) > limit:
                ahead = int(_epoch(at) - now)
                raise InvalidEvent(
                    "time_in_future", f"data.{name} is {ahead} s in the future (at most {self.time_skew_s} s)"
                )


def sign(key: str, event_id: str, body: bytes, ts: int | None = None) -> list[tuple[str, bytes]]:
    """The Kafka headers that sign `body` (the record value) as the event `event_id`; `key` is `whsec_...`."""
    return signing.kafka_headers(signing.parse_secret(key), event_id, body, int(time.time()) if ts is None else ts)


def signing_keys_from_settings(settings: ServiceSettings) -> SigningKeys:
    return SigningKeys.from_json(settings.source_signing_keys.get_secret_value())


def policy_from_settings(settings: ServiceSettings) -> SourcePolicy:
    extra = tuple(s.strip() for s in settings.sources_extra.split(",") if s.strip())
    return SourcePolicy.load(settings.sources_file or None, extra, parse_exclusive(settings.exclusive_topics))


def intake_from_settings(settings: ServiceSettings) -> Intake:
    """The service's intake check from its settings (`ServiceSettings`)."""
    return Intake(
        policy=policy_from_settings(settings),
        signing=signing_keys_from_settings(settings),
        tolerance_s=settings.signature_tolerance_s,
        require_proof=settings.env != "dev",
        time_skew_s=settings.event_time_skew_s,
        replay_key=settings.replay_key.get_secret_value(),
        service=settings.service,
    )
