"""Bulk payouts: ``POST /cash-out/batch``, up to 1,000 cash-outs under one key.

Each item is the body of a ``POST /cash-out`` and is answered as that would answer it
(202 and the cash-out, or its error), in request order, in one 200. What makes the whole
request fail is what makes no item's answer: authentication, the signature, the key, a
body that is not ``{"items": [...]}`` with 1 to 1,000 items, a string that breaks the
text rule or a field given twice (found while decoding the whole body), a database down.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from connectpsp.api import views
from connectpsp.api.cash_out_body import parse_cash_out, pays_br_code
from connectpsp.api.deps import (
    IDEMPOTENT_REPLAYED,
    authenticated,
    body,
    errors,
    idempotency_key,
    json_body,
    respond,
    services_of,
    single_header,
)
from connectpsp.api.errors import STATUS, status_for
from connectpsp.api.schemas import (
    AcceptedBody,
    CashOutIn,
    ErrorDetail,
)
from connectpsp.api.services import Services
from connectpsp.domain.cashout import CashOutRequest
from connectpsp.domain.cashout_batch import (
    MAX_ITEMS,
    BatchResult,
    CashOutBatch,
    ItemRefused,
    canonical_item,
)
from connectpsp.domain.clients import Client
from connectpsp.domain.errors import ConnectPSPError, FieldError, InvalidSignature, ValidationFailed
from connectpsp.service.auth import Caller
from connectpsp.service.batch import BatchContext

__all__ = ["router"]

router = APIRouter(tags=["cash-out"])


class CashOutBatchIn(BaseModel):
    items: list[CashOutIn] = Field(
        min_length=1,
        max_length=MAX_ITEMS,
        description="1 to 1,000 cash-outs, each the body of POST /cash-out",
    )


class BatchAccepted(BaseModel):
    status: Literal[202]
    cashOut: AcceptedBody  # noqa: N815 - wire name


class BatchRefused(BaseModel):
    status: int = Field(description="What POST /cash-out would have answered: 400, 409 or 422")
    error: ErrorDetail


class CashOutBatchBody(BaseModel):
    results: list[BatchAccepted | BatchRefused] = Field(
        description="One per item, in request order"
    )


@router.post(
    "/cash-out/batch",
    summary="Send up to 1,000 Pix payments at once, each accepted or refused on its own",
    status_code=200,
    response_model=CashOutBatchBody,
    responses={
        **errors(400, 401, 409, 422),
        200: {"model": CashOutBatchBody, "headers": IDEMPOTENT_REPLAYED},
    },
    openapi_extra=body(
        CashOutBatchIn,
        (
            "DigitalSignature",
            "Lowercase hex HMAC-SHA256 of the access token, keyed with your cryptoToken",
        ),
        ("X-Idempotency-Key", "Unique per batch; a UUID is a good choice"),
    ),
)
async def create_cash_out_batch(
    request: Request, caller: Caller = Depends(authenticated)
) -> Response:
    services = services_of(request)
    signature = single_header(request, "DigitalSignature", InvalidSignature)
    services.auth.check_signature(caller, signature)
    key = idempotency_key(request, required=True)
    assert key is not None
    try:
        data = await json_body(request)
    except ValidationFailed as error:  # the decoder names items.3.payee.name
        raise _renamed(error) from None
    items = _items_of(data)
    # Up to 1,000 items fingerprinted, parsed (a dynamic code's location is fetched) and
    # screened (DICT may be asked): one trip off the event loop.
    batch, context = await run_in_threadpool(_prepare, services, caller.client, items)
    decided = await asyncio.wrap_future(
        services.cash_out_batches.submit(caller.client, key, batch, context)
    )
    return respond(decided, lambda result: (200, _results(result)))


def _items_of(data: Any) -> list[Any]:
    """The body's items; the whole request is refused unless it is ``{"items": [...]}``
    with 1 to ``MAX_ITEMS`` of them."""
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError("body", "must be an object with an items list")])
    problems = [FieldError(name, "is not a recognised field") for name in data if name != "items"]
    items = data.get("items")
    if "items" not in data:
        problems.append(FieldError("items", "is required"))
    elif not isinstance(items, list):
        problems.append(FieldError("items", "must be a list of cash-outs"))
    elif not 1 <= len(items) <= MAX_ITEMS:
        problems.append(
            FieldError("items", f"must hold 1 to {MAX_ITEMS:,} cash-outs, not {len(items):,}")
        )
    if problems:
        raise ValidationFailed(problems)
    assert isinstance(items, list)
    return items


def _prepare(
    services: Services, client: Client, items: list[Any]
) -> tuple[CashOutBatch, BatchContext]:
    """The batch as the engine fingerprints it (what was sent), and what was made of it."""
    batch = CashOutBatch(tuple(canonical_item(item) for item in items))
    parsed = [_parse(services, client, index, item) for index, item in enumerate(items)]
    screenings = services.cash_out_batches.screen(parsed)
    return batch, BatchContext(tuple(parsed), tuple(screenings))


def _parse(
    services: Services, client: Client, index: int, item: Any
) -> CashOutRequest | ItemRefused:
    """An item as ``POST /cash-out`` parses its body, or the 4xx refusal it would get,
    its fields named from the batch (``items[3].amount``). An error that is not the
    item's fault (a 5xx) fails the whole request."""
    if not isinstance(item, dict):
        return ItemRefused.of(
            ValidationFailed([FieldError(f"items[{index}]", "must be a cash-out object")])
        )
    limit = client.per_transaction_limit
    try:
        br_code = services.br_codes.destination if pays_br_code(item) else None
        request = parse_cash_out(item, services.participants, limit, br_code)
        if request.webhook_url is not None:
            services.endpoints.check_cash_out_url(request.webhook_url)
    except ConnectPSPError as error:
        if status_for(error) >= 500:
            raise
        return _item_refusal(index, error)
    return request


def _item_refusal(index: int, error: ConnectPSPError) -> ItemRefused:
    if not isinstance(error, ValidationFailed):
        return ItemRefused.of(error)
    fields = [_in_item(index, e) for e in error.errors]
    if error.message == ValidationFailed(error.errors).message:  # "Invalid fields: ..."
        message = ValidationFailed(fields).message
    else:
        message = error.message
    return ItemRefused(error.code, message, [f.as_dict() for f in fields])


def _in_item(index: int, error: FieldError) -> FieldError:
    where = f"items[{index}]"
    return FieldError(where if error.field == "body" else f"{where}.{error.field}", error.message)


def _renamed(error: ValidationFailed) -> ValidationFailed:
    """The decoder's ``items.3.payee.name`` as ``items[3].payee.name``."""
    fields = []
    for e in error.errors:
        head, _, rest = e.field.partition(".")
        index, _, tail = rest.partition(".")
        if head == "items" and index.isdigit():
            field = f"items[{index}]" + (f".{tail}" if tail else "")
            fields.append(FieldError(field, e.message))
        else:
            fields.append(e)
    return ValidationFailed(fields)


# An item's refusal's HTTP status, by its code (ValidationFailed 400, PlaceholderUrl 400...).
_STATUS_BY_CODE = {kind.code: status for kind, status in STATUS.items() if status < 500}


def _results(result: BatchResult) -> dict[str, Any]:
    return {
        "results": [
            {
                "status": _STATUS_BY_CODE.get(item.code, 422),
                "error": {"code": item.code, "message": item.message, "details": item.details},
            }
            if isinstance(item, ItemRefused)
            else {"status": 202, "cashOut": views.accepted(item)}
            for item in result.items
        ]
    }
