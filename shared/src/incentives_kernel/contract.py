"""The system's event contract as documents integrators can generate clients from and validate with.

One AsyncAPI 3.0 document for the whole system (every topic, who publishes and who consumes it, the
dead-letter channels, the brokers' security) whose message payloads are the JSON Schemas of the
pydantic models the services validate with, inside the CloudEvent envelope; and one standalone JSON
Schema per event type. Built from the code (events.py, topics.py, envelope.py), so it cannot drift:
`incentives contract export` writes them to docs/contract/ and a test keeps those files in sync.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

from . import dead_letter_proof
from . import topics as t
from .envelope import Envelope
from .events import ALL_TYPES, INBOUND_TYPES

VERSION = "1.0.0"
JSON_SCHEMA = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_FORMAT = "application/schema+json;version=draft-07"

# Which event types travel on which topic: the kernel's one table (topics.TYPES).
TOPIC_TYPES = t.TYPES
# Who writes each topic (outside systems by their Kafka principal) and which service consumes it
# (tests/test_conventions.py holds CONSUMERS to each service's own subscribers.TOPICS).
PUBLISHERS: dict[str, tuple[str, ...]] = {
    t.MEMBERS: ("member-registry", "rider-app-gateway"),
    t.REPORTS: ("dispatch-platform", "rider-app-gateway"),
    t.DIRECTORY: ("department-registry", "provider-registry"),
    t.VOLUNTEER: ("volunteer-platform",),
    t.REDEMPTIONS: ("rider-app-gateway",),
    t.REPORTS_LIFECYCLE: ("reports",),
    t.POINTS: ("points",),
    t.POINTS_REPLIES: ("points",),
    t.REWARDS: ("rewards",),
    t.POINTS_COMMANDS: ("rewards",),
    t.NOTIFICATIONS: ("notify",),
}
CONSUMERS: dict[str, tuple[str, ...]] = {
    "reports": (t.MEMBERS, t.REPORTS, t.DIRECTORY, t.POINTS),
    "points": (t.MEMBERS, t.REPORTS_LIFECYCLE, t.VOLUNTEER, t.POINTS_COMMANDS),
    "rewards": (t.MEMBERS, t.REDEMPTIONS, t.POINTS, t.POINTS_REPLIES, t.DIRECTORY),
    "notify": (t.MEMBERS, t.POINTS, t.REPORTS_LIFECYCLE, t.REWARDS),
}
DLQ_HEADERS = (
    "error.class",
    "error.reason",
    "error.message",
    "error.service",
    "original.topic",
    "original.partition",
    "original.offset",
)


def _channel_id(topic: str) -> str:
    return topic.removeprefix("incentives.").replace(".", "_")


def _message_id(event_type: str) -> str:
    return event_type.replace(".", "_")


def _envelope_properties() -> dict[str, Any]:
    schema = Envelope.model_json_schema()
    properties: dict[str, Any] = schema["properties"]
    properties.pop("data", None)
    return properties


def _model_schema(model: type[BaseModel], ref_template: str) -> dict[str, Any]:
    return model.model_json_schema(ref_template=ref_template, mode="validation")


def event_schema(event_type: str) -> dict[str, Any]:
    """A standalone JSON Schema (2020-12) of a whole CloudEvent of `event_type`: validate an event with
    it before sending. The envelope's attributes, `type` fixed, `data` the model the service checks."""
    data = _model_schema(ALL_TYPES[event_type], "#/$defs/{model}")
    defs = data.pop("$defs", {})
    properties = {**_envelope_properties(), "type": {"const": event_type, "type": "string"}, "data": data}
    schema: dict[str, Any] = {
        "$schema": JSON_SCHEMA,
        "$id": f"urn:incentives:event:{event_type}:{VERSION}",
        "title": f"CloudEvent {event_type}",
        "type": "object",
        "required": ["specversion", "id", "source", "type", "time", "data"],
        "properties": properties,
    }
    if defs:
        schema["$defs"] = defs
    return schema


def event_schemas() -> dict[str, dict[str, Any]]:
    return {event_type: event_schema(event_type) for topic in TOPIC_TYPES for event_type in TOPIC_TYPES[topic]}


def asyncapi_document() -> dict[str, Any]:
    """The whole system's AsyncAPI 3.0 document."""
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic_types in TOPIC_TYPES.values():
        for event_type in topic_types:
            model = ALL_TYPES[event_type]
            data = _model_schema(model, "#/components/schemas/{model}")
            schemas.update(data.pop("$defs", {}))
            schemas[model.__name__] = data
            payload = {
                "type": "object",
                "required": ["specversion", "id", "source", "type", "time", "data"],
                "properties": {
                    **copy.deepcopy(_envelope_properties()),
                    "type": {"const": event_type, "type": "string"},
                    "data": {"$ref": f"#/components/schemas/{model.__name__}"},
                },
            }
            messages[_message_id(event_type)] = {
                "name": event_type,
                "title": event_type,
                "summary": (model.__doc__ or event_type).strip().splitlines()[0],
                "contentType": "application/cloudevents+json",
                "payload": {"schemaFormat": SCHEMA_FORMAT, "schema": payload},
                "correlationId": {"location": "$message.payload#/id"},
            }
    messages["dead_letter"] = {
        "name": "dead_letter",
        "title": "Dead letter",
        "summary": "A record a service could not handle: its key and value unchanged, the reason in headers.",
        "contentType": "application/octet-stream",
        "headers": {
            "type": "object",
            "properties": {
                **{name: {"type": "string"} for name in DLQ_HEADERS},
                # Not required: a service without INCENTIVES_REPLAY_KEY (development only) writes none.
                dead_letter_proof.HEADER: {
                    "type": "string",
                    "description": "v1,<base64 HMAC-SHA256 under INCENTIVES_REPLAY_KEY>: the service wrote this "
                    "dead letter (kernel dead_letter_proof.py); `incentives dlq replay` refuses a record without it",
                },
            },
            "required": list(DLQ_HEADERS),
        },
        "payload": {"type": "string", "description": "the original record's value, byte for byte"},
    }

    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for spec in t.ALL_TOPICS:
        cid = _channel_id(spec.name)
        if spec.role == "dlq":
            channels[cid] = {
                "address": spec.name,
                "title": spec.name,
                "description": f"Dead letters of {spec.name.removesuffix(t.DLQ_SUFFIX)}: {spec.partitions} "
                "partition, kept 90 days; `incentives dlq replay` re-publishes them.",
                "messages": {"dead_letter": {"$ref": "#/components/messages/dead_letter"}},
            }
            continue
        types = TOPIC_TYPES.get(spec.name, ())
        channels[cid] = {
            "address": spec.name,
            "title": spec.name,
            "description": f"{spec.role} topic, {spec.partitions} partitions keyed by {spec.key}, kept "
            f"{spec.retention_ms // (24 * 3600 * 1000)} days.",
            "messages": {_message_id(e): {"$ref": f"#/components/messages/{_message_id(e)}"} for e in types},
        }
        refs = [{"$ref": f"#/channels/{cid}/messages/{_message_id(e)}"} for e in types]
        for who in PUBLISHERS.get(spec.name, ()):
            operations[f"{who}_sends_{cid}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{cid}"},
                "summary": f"{who} publishes to {spec.name}",
                "messages": refs,
            }
        for service, consumed in CONSUMERS.items():
            if spec.name in consumed:
                dlq = _channel_id(t.dlq_topic(spec.name))
                operations[f"{service}_receives_{cid}"] = {
                    "action": "receive",
                    "channel": {"$ref": f"#/channels/{cid}"},
                    "summary": f"{service} consumes {spec.name} (group {service}); what it cannot handle goes "
                    f"to {t.dlq_topic(spec.name)}",
                    "messages": refs,
                }
                operations[f"{service}_dead_letters_{cid}"] = {
                    "action": "send",
                    "channel": {"$ref": f"#/channels/{dlq}"},
                    "summary": f"{service} dead-letters what it cannot handle from {spec.name}",
                    "messages": [{"$ref": f"#/channels/{dlq}/messages/dead_letter"}],
                }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "incentives",
            "version": VERSION,
            "description": "Events that turn civic work by gig workers into points and rewards. Every message is "
            "a CloudEvent 1.0 in structured JSON mode; the data of each type is validated against the schema "
            "given here, and a record that fails goes to the topic's .dlq twin with the reason. Inbound sources "
            f"are allow-listed and may have to sign (docs/security-intake.md). Inbound types: {len(INBOUND_TYPES)}.",
        },
        "defaultContentType": "application/cloudevents+json",
        "servers": {
            "production": {
                "host": "kafka:19092",
                "protocol": "kafka",
                "description": "Apache Kafka of docker-compose.yml: every client authenticates as its own "
                "principal; ACLs allow each to write only the topics of the events it is the source of.",
                "security": [{"$ref": "#/components/securitySchemes/scram"}],
            },
            "development": {
                "host": "127.0.0.1:19092",
                "protocol": "kafka",
                "description": "The embedded Tansu broker of `make run`: no authentication; kafkajs and aiokafka "
                "clients only (librdkafka cannot read its ApiVersions answer).",
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": schemas,
            "securitySchemes": {
                "scram": {
                    "type": "scramSha512",
                    "description": "SASL/SCRAM-SHA-512 over SASL_PLAINTEXT (the listener is on the internal network "
                    "only); one principal per municipal system and per service (deploy/kafka/acl-init.sh).",
                }
            },
        },
    }
