"""HTTP routes of the rewards service: the catalogue and stock, redemptions, allocation rounds, vouchers, providers."""

from __future__ import annotations

from fastapi import APIRouter
from incentives_kernel.runtime import ServiceRuntime

from . import catalogue_api, providers_api, redemptions_api, rounds_api, vouchers_api
from .saga import Deps


def build_routers(runtime: ServiceRuntime, deps: Deps) -> list[APIRouter]:
    return [
        catalogue_api.build_router(runtime),
        redemptions_api.build_router(runtime, deps),
        rounds_api.build_router(runtime, deps),
        vouchers_api.build_router(runtime, deps),
        providers_api.build_router(runtime),
    ]
