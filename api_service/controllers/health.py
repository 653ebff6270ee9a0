"""Liveness of the API and the state of each table it serves."""

from __future__ import annotations

from litestar import Controller, get

from api_service.schemas import HealthResponse
from api_service.service import Service


class HealthController(Controller):
    path = "/api/health"
    tags = ("health",)

    @get("/", summary="API liveness and latest materialized dates")
    async def health(self, service: Service) -> HealthResponse:
        """Liveness of the API and, per table served, whether it is materialized and its first
        and latest partition dates. This endpoint needs no API key."""
        return await service.health()
