"""Health, for load balancers and orchestrators: ``/livez`` (restart this process if it
fails), ``/readyz`` (send it traffic only while it passes) and ``/healthz`` (kept as it
was: the database answers)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from connectpsp.api.deps import errors, json_response, services_of
from connectpsp.api.schemas import ErrorBody
from connectpsp.domain.errors import SchemaNotCurrent, StorageUnavailable

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get(
    "/livez",
    summary="200 while the process serves requests; touches no database",
    responses={500: {"model": ErrorBody}},
)
async def livez() -> Response:
    # Answered on the event loop itself: a loop too blocked to answer this is not alive,
    # while a database outage is no reason to restart the process.
    return json_response({"status": "ok"})


@router.get(
    "/readyz",
    summary="200 when the database answers and is at this version's schema",
    responses=errors(),
    description=(
        "503 `SERVICE_UNAVAILABLE` when the database does not answer; 503 "
        "`DATABASE_NOT_MIGRATED` when it answers at another schema revision than this "
        "version's newest (run `connectpsp migrate`)."
    ),
)
def readyz(request: Request) -> Response:
    services = services_of(request)
    if not services.ping():
        raise StorageUnavailable()
    if not services.schema_is_current():
        raise SchemaNotCurrent()
    return json_response({"status": "ok"})


@router.get(
    "/healthz",
    summary="200 when the database is reachable (kept for existing probes; see /readyz)",
    responses=errors(),
)
def healthz(request: Request) -> Response:
    if not services_of(request).ping():
        raise StorageUnavailable()
    return json_response({"status": "ok"})
