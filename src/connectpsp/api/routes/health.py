"""Health: whether this process can serve, for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from connectpsp.api.deps import errors, json_response, services_of
from connectpsp.domain.errors import StorageUnavailable

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    summary="200 when the database is reachable",
    responses=errors(),
)
def healthz(request: Request) -> Response:
    if not services_of(request).ping():
        raise StorageUnavailable()
    return json_response({"status": "ok"})
