"""Kafka authentication from settings: SASL/SCRAM per service principal (compose Kafka), or none.

The production broker authenticates each service and each municipal system as its own principal
and its ACLs decide who may write or read which topic (docker-compose.yml). The embedded broker
runs without authentication; there, the intake allow-list and signatures are the protection.
"""

from __future__ import annotations

import ssl
from typing import Any

from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from .settings import ServiceSettings

_MECHANISMS: dict[str, type[SASLPlaintext] | type[SASLScram256] | type[SASLScram512]] = {
    "PLAIN": SASLPlaintext,
    "SCRAM-SHA-256": SASLScram256,
    "SCRAM-SHA-512": SASLScram512,
}


def broker_security(settings: ServiceSettings) -> BaseSecurity | None:
    """FastStream's security object for the service's broker, or None for a plaintext broker."""
    if settings.kafka_security_protocol == "PLAINTEXT":
        return None
    use_ssl = settings.kafka_security_protocol == "SASL_SSL"
    return _MECHANISMS[settings.kafka_sasl_mechanism](
        username=settings.kafka_sasl_username,
        password=settings.kafka_sasl_password.get_secret_value(),
        ssl_context=ssl.create_default_context() if use_ssl else None,
        use_ssl=use_ssl,
    )


def client_kwargs(settings: ServiceSettings) -> dict[str, Any]:
    """The same, as keyword arguments for a plain aiokafka client (the outbox relay's producer)."""
    return parse_security(broker_security(settings))


def idempotent_producer(settings: ServiceSettings) -> bool:
    """Whether producers are idempotent: KAFKA_ENABLE_IDEMPOTENCE if set, else on outside dev (Apache
    Kafka) and off in dev, whose embedded Tansu 0.6 rejects InitProducerId. Exactly-once effects come
    from the inboxes either way; idempotence spares them the duplicates a producer's retry makes."""
    if settings.kafka_enable_idempotence is not None:
        return settings.kafka_enable_idempotence
    return settings.env != "dev"
