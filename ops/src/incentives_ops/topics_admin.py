"""Create the system's topics (with their partitions and retention) on a Kafka-protocol broker."""

from __future__ import annotations

import asyncio
import os

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from incentives_kernel.topics import ALL_TOPICS, TopicSpec


def sasl_from_env() -> dict[str, str]:
    """SASL for the compose Kafka (kafka-init authenticates as its admin principal); none when unset."""
    user = os.environ.get("KAFKA_SASL_USERNAME")
    if not user:
        return {}
    return {
        "security_protocol": os.environ.get("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"),
        "sasl_mechanism": os.environ.get("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
        "sasl_plain_username": user,
        "sasl_plain_password": os.environ.get("KAFKA_SASL_PASSWORD", ""),
    }


def idempotence_from_env() -> bool:
    """The services' rule (kernel kafka_security.idempotent_producer) for the operator's producers:
    KAFKA_ENABLE_IDEMPOTENCE if set, else on unless INCENTIVES_ENV=dev (the embedded Tansu rejects it)."""
    explicit = os.environ.get("KAFKA_ENABLE_IDEMPOTENCE", "").strip().lower()
    if explicit:
        return explicit in ("1", "true", "yes", "on")
    return os.environ.get("INCENTIVES_ENV", "prod") != "dev"


async def create_topics(
    bootstrap: str, specs: tuple[TopicSpec, ...] = ALL_TOPICS, replication: int = 1, attempts: int = 30
) -> list[str]:
    """Create whatever is missing; return the names created now. Waits for the broker to answer."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="incentives-topics", **sasl_from_env())
    for attempt in range(attempts):
        try:
            await admin.start()
            break
        except Exception:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(1)
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        created = []
        for s in missing:  # one at a time: a topic created by a racing peer is not an error
            try:
                await admin.create_topics(
                    [NewTopic(s.name, s.partitions, replication, topic_configs={"retention.ms": str(s.retention_ms)})]
                )
                created.append(s.name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        await admin.close()


async def list_topics(bootstrap: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="incentives-topics", **sasl_from_env())
    await admin.start()
    try:
        return sorted(await admin.list_topics())
    finally:
        await admin.close()
