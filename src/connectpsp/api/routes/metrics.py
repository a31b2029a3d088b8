"""``GET /metrics``: Prometheus' text format, for a scraper on the operators' network
(docs/operations.md). Served when CONNECTPSP_METRICS is on (the default); left out of the
API reference, which is the clients'."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from connectpsp.api.deps import services_of
from connectpsp.metrics import CONTENT_TYPE

__all__ = ["router"]

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    # A plain function: FastAPI runs it in a thread, as the backlog's SQL needs.
    return Response(services_of(request).metrics.render(), media_type=CONTENT_TYPE)
