"""The rewards service's consumer: the members projection (eligibility needs district and activity)."""

from __future__ import annotations

from incentives_kernel import members, topics
from incentives_kernel.events import INBOUND_TYPES
from incentives_kernel.runtime import ServiceRuntime


def register(runtime: ServiceRuntime) -> None:
    runtime.consume(
        [topics.MEMBERS],
        members.USE_CASES,
        INBOUND_TYPES,
        description="Members (projection used for eligibility)",
    )
