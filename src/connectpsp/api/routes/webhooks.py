"""Webhook endpoints, deliveries, retries and replays (client-authenticated)."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from connectpsp.api.deps import (
    ID_PATTERN,
    authenticated,
    body,
    errors,
    idempotency_key,
    json_body,
    json_response,
    respond,
    services_of,
)
from connectpsp.api.schemas import ReplayIn, WebhookIn, parse_body
from connectpsp.domain.clock import iso_utc
from connectpsp.domain.errors import FieldError, ValidationFailed
from connectpsp.domain.webhooks import (
    DeliveryStatus,
    DeliveryView,
    Endpoint,
    EndpointCreated,
    SecretRotated,
)
from connectpsp.service.auth import Caller

__all__ = ["router"]

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

# Stateful clients (and fuzzers) can follow a new endpoint's id to what acts on it.
_ENDPOINT_LINKS = {
    name: {"operationId": operation, "parameters": {"endpointId": "$response.body#/id"}}
    for name, operation in (
        ("RotateSecret", "rotate_secret"),
        ("Replay", "replay"),
        ("DeleteEndpoint", "delete_endpoint"),
    )
}


# Optional here: without it a retried call registers or rotates again. Declared for the
# OpenAPI description; read by ``idempotency_key``, which also refuses it sent twice.
_IDEMPOTENCY_KEY = Header(
    None,
    alias="X-Idempotency-Key",
    description="Optional; a retry with the same key gets the first answer and changes nothing",
)


def _endpoint(e: Endpoint) -> dict[str, Any]:
    return {
        "id": e.id,
        "url": e.url,
        "events": list(e.events),
        "status": "enabled" if e.enabled else "disabled",
        "createdAt": iso_utc(e.created_at),
    }


def _created(c: EndpointCreated) -> dict[str, Any]:
    return {
        "id": c.id,
        "url": c.url,
        "events": list(c.events),
        "status": "enabled",
        "createdAt": iso_utc(c.created_at),
        "secret": c.secret,
    }


def _rotated(r: SecretRotated) -> dict[str, Any]:
    return {
        "id": r.endpoint_id,
        "secret": r.secret,
        "previousSecretExpiresAt": iso_utc(r.previous_secret_expires_at),
    }


def _delivery(d: DeliveryView) -> dict[str, Any]:
    return {
        "id": d.id,
        "webhookId": d.message_id,
        "eventType": d.event_type,
        "endpointId": d.endpoint_id,
        "url": d.url,
        "status": d.status.value,
        "createdAt": iso_utc(d.created_at),
        "nextAttemptAt": iso_utc(d.next_attempt_at) if d.next_attempt_at else None,
        "attempts": [
            {
                "attemptedAt": iso_utc(a.attempted_at),
                "statusCode": a.status_code,
                "latencyMs": a.latency_ms,
                "responseBody": a.response_body,
                "error": a.error,
            }
            for a in d.attempts
        ],
    }


@router.post(
    "",
    status_code=201,
    summary="Register an endpoint for account events",
    responses={**errors(400, 401, 404, 409, 422), 201: {"links": _ENDPOINT_LINKS}},
    openapi_extra=body(WebhookIn),
)
async def create_endpoint(
    request: Request,
    caller: Caller = Depends(authenticated),
    _key: str | None = _IDEMPOTENCY_KEY,
) -> Response:
    key = idempotency_key(request, required=False)
    data = parse_body(WebhookIn, await json_body(request))
    # In a thread: the URL's host is resolved and checked before anything is decided.
    decided = await asyncio.wrap_future(
        await run_in_threadpool(
            services_of(request).endpoints.create_endpoint,
            caller.client,
            data.url,
            data.events,
            key,
        )
    )
    return respond(decided, lambda created: (201, _created(created)))


@router.get("", summary="Your endpoints", responses=errors(400, 401))
def list_endpoints(request: Request, caller: Caller = Depends(authenticated)) -> Response:
    found = services_of(request).endpoints.endpoints(caller.client)
    return json_response({"data": [_endpoint(e) for e in found]})


@router.get("/deliveries", summary="Deliveries and every attempt", responses=errors(400, 401))
def list_deliveries(
    request: Request,
    status: Literal["pending", "succeeded", "failed"] | None = Query(None),
    limit: int = Query(100, ge=1, le=500),
    caller: Caller = Depends(authenticated),
) -> Response:
    chosen = DeliveryStatus(status) if status else None
    found = services_of(request).endpoints.deliveries(caller.client, chosen, limit)
    return json_response({"data": [_delivery(d) for d in found]})


@router.post(
    "/deliveries/{deliveryId}/retry",
    status_code=202,
    summary="Attempt a delivery again now",
    responses=errors(400, 401, 404, 409),
)
def retry_delivery(
    request: Request,
    delivery_id: str = Path(alias="deliveryId", pattern=ID_PATTERN),
    caller: Caller = Depends(authenticated),
) -> Response:
    services_of(request).endpoints.retry(caller.client, delivery_id)
    return json_response({"id": delivery_id, "status": "pending"}, status=202)


@router.delete(
    "/{endpointId}",
    status_code=204,
    summary="Remove an endpoint",
    responses=errors(400, 401, 404),
    operation_id="delete_endpoint",
)
def delete_endpoint(
    request: Request,
    endpoint_id: str = Path(alias="endpointId", pattern=ID_PATTERN),
    caller: Caller = Depends(authenticated),
) -> Response:
    services_of(request).endpoints.delete_endpoint(caller.client, endpoint_id)
    return Response(status_code=204)


@router.post(
    "/{endpointId}/rotate-secret",
    summary="New signing secret; the old one also signs for 24 h",
    responses=errors(400, 401, 404, 409, 422),
    operation_id="rotate_secret",
)
async def rotate_secret(
    request: Request,
    endpoint_id: str = Path(alias="endpointId", pattern=ID_PATTERN),
    caller: Caller = Depends(authenticated),
    _key: str | None = _IDEMPOTENCY_KEY,
) -> Response:
    key = idempotency_key(request, required=False)
    decided = await asyncio.wrap_future(
        services_of(request).endpoints.rotate_secret(caller.client, endpoint_id, key)
    )
    return respond(decided, lambda rotated: (200, _rotated(rotated)))


@router.post(
    "/{endpointId}/replay",
    status_code=202,
    summary="Send again every event in [since, until) to this endpoint",
    responses=errors(400, 401, 404, 409),
    operation_id="replay",
    openapi_extra=body(ReplayIn),
)
async def replay(
    request: Request,
    endpoint_id: str = Path(alias="endpointId", pattern=ID_PATTERN),
    caller: Caller = Depends(authenticated),
) -> Response:
    window = parse_body(ReplayIn, await json_body(request))
    if window.until <= window.since:
        raise ValidationFailed([FieldError("until", "must be after since")])
    count = await run_in_threadpool(
        services_of(request).endpoints.replay,
        caller.client,
        endpoint_id,
        window.since,
        window.until,
    )
    return json_response({"replayed": count}, status=202)
