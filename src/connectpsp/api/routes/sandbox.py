"""Sandbox actions (mounted in sandbox mode only): arranging the simulated Pix network."""

from __future__ import annotations

import functools
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from starlette.concurrency import run_in_threadpool

from connectpsp.api import views
from connectpsp.api.deps import (
    ID_PATTERN,
    INTERNAL_CODE_PATTERN,
    authenticated,
    body,
    errors,
    json_body,
    json_response,
    services_of,
)
from connectpsp.api.sandbox_schemas import (
    DictKeyIn,
    FraudMarkerIn,
    ReturnIn,
    SandboxPayIn,
    parse_dict_key,
)
from connectpsp.api.schemas import Money, parse_body
from connectpsp.domain.cashout import Creditor
from connectpsp.domain.clock import iso_utc
from connectpsp.domain.documents import document_type
from connectpsp.domain.errors import FieldError, NotFound, ValidationFailed
from connectpsp.domain.money import to_decimal
from connectpsp.domain.pix import PixKeyType
from connectpsp.service.auth import Caller
from connectpsp.service.rail import Payer
from connectpsp.service.security import FraudMarker, FraudType, Periods, SecurityInfo, key_type_of

__all__ = ["router"]

router = APIRouter(prefix="/sandbox", tags=["sandbox"])


@router.post(
    "/dict/keys",
    summary="Register a Pix key in the sandbox DICT (sandbox mode only)",
    status_code=201,
    responses=errors(400, 401, 409),
    openapi_extra=body(DictKeyIn),
)
async def register_dict_key(request: Request, _: Caller = Depends(authenticated)) -> Response:
    services = services_of(request)
    data = parse_dict_key(await json_body(request), services.participants)
    account = data.account
    owner = Creditor(
        data.owner.name,
        data.owner.document,
        account.ispb,
        account.branch,
        account.account,
        account.account_type,
    )
    await run_in_threadpool(
        services.sandbox_dict.register_key, data.key_type, data.key, owner, data.reject_with
    )
    return json_response(data.model_dump(mode="json", by_alias=True), status=201)


# Answers, described for the OpenAPI document (the routes write their JSON themselves).
class _Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel)


class FraudMarkerOut(_Out):
    id: str
    key: str | None = None
    document: str | None = None
    type: FraudType
    created_at: str


class PeriodsOut(_Out):
    d90: int
    m12: int
    m60: int


class AmountsOut(_Out):
    d90: Money
    m12: Money
    m60: Money


class SpiOut(_Out):
    settlements: PeriodsOut


class FraudMarkersOut(_Out):
    application_frauds: PeriodsOut
    mule_accounts: PeriodsOut
    scammer_accounts: PeriodsOut
    other_frauds: PeriodsOut
    unknown_frauds: PeriodsOut
    total_fraud_transaction_amount: AmountsOut
    distinct_fraud_reporters: PeriodsOut


class InfractionReportsOut(_Out):
    open_reports: int
    open_reports_distinct_reporters: int
    rejected_reports: PeriodsOut


class StatisticsOut(_Out):
    spi: SpiOut
    fraud_markers: FraudMarkersOut
    infraction_reports: InfractionReportsOut
    active_markers: int
    blocked: bool


class SecurityOut(_Out):
    key: str | None = None
    key_type: PixKeyType | None = None
    owner_document: str | None = None
    document: str | None = None
    key_statistics: StatisticsOut | None = None
    owner_statistics: StatisticsOut


_MARKER_LINKS = {
    "RemoveFraudMarker": {
        "operationId": "remove_fraud_marker",
        "parameters": {"markerId": "$response.body#/id"},
    }
}


def _marker(m: FraudMarker) -> dict[str, Any]:
    subject = {"key": m.key} if m.key is not None else {"document": m.document}
    return {"id": m.id, **subject, "type": m.type.value, "createdAt": iso_utc(m.created_at)}


def _periods(p: Periods) -> dict[str, int]:
    return {"d90": p.d90, "m12": p.m12, "m60": p.m60}


def _statistics(info: SecurityInfo) -> dict[str, Any]:
    """``info`` in BCB's DICT field names; ``activeMarkers`` and ``blocked`` are ours."""
    f = info.fraud_markers
    amount = f.total_fraud_transaction_amount
    return {
        "spi": {"settlements": _periods(info.settlements)},
        "fraudMarkers": {
            "applicationFrauds": _periods(f.application_frauds),
            "muleAccounts": _periods(f.mule_accounts),
            "scammerAccounts": _periods(f.scammer_accounts),
            "otherFrauds": _periods(f.other_frauds),
            "unknownFrauds": _periods(f.unknown_frauds),
            "totalFraudTransactionAmount": {
                "d90": to_decimal(amount.d90),
                "m12": to_decimal(amount.m12),
                "m60": to_decimal(amount.m60),
            },
            "distinctFraudReporters": _periods(f.distinct_fraud_reporters),
        },
        "infractionReports": {
            "openReports": info.infraction_reports.open_reports,
            "openReportsDistinctReporters": info.infraction_reports.open_reports_distinct_reporters,
            "rejectedReports": _periods(info.infraction_reports.rejected_reports),
        },
        "activeMarkers": info.active_markers,
        "blocked": info.blocked,
    }


@router.post(
    "/dict/fraud-markers",
    summary="Put a fraud marker on a key or a document in the sandbox DICT (sandbox mode only)",
    status_code=201,
    response_model=FraudMarkerOut,
    responses={**errors(400, 401), 201: {"links": _MARKER_LINKS}},
    openapi_extra=body(FraudMarkerIn),
)
async def add_fraud_marker(request: Request, _: Caller = Depends(authenticated)) -> Response:
    services = services_of(request)
    data = parse_body(FraudMarkerIn, await json_body(request))
    marker = await run_in_threadpool(
        services.sandbox_fraud_markers.add,
        key=data.key,
        document=data.document,
        marker_type=data.type,
    )
    return json_response(_marker(marker), status=201)


@router.delete(
    "/dict/fraud-markers/{markerId}",
    summary="Remove a fraud marker from the sandbox DICT (sandbox mode only)",
    status_code=204,
    responses=errors(400, 401, 404),
    operation_id="remove_fraud_marker",
)
def remove_fraud_marker(
    request: Request,
    marker_id: str = Path(alias="markerId", pattern=ID_PATTERN),
    _: Caller = Depends(authenticated),
) -> Response:
    services_of(request).sandbox_fraud_markers.remove(marker_id)
    return Response(status_code=204)


@router.get(
    "/dict/security",
    summary=(
        "DICT's security information about a key and its owner, or about a person, as "
        "the checks before a cash-out see it (sandbox mode only)"
    ),
    response_model=SecurityOut,
    responses=errors(400, 401, 404),
)
def dict_security(
    request: Request,
    key: str | None = Query(None, max_length=77, description="A Pix key; or give document"),
    document: str | None = Query(
        None, max_length=14, description="A CPF or CNPJ, no punctuation; or give key"
    ),
    _: Caller = Depends(authenticated),
) -> Response:
    security = services_of(request).dict_security
    if document is not None and key is None:
        try:
            document_type(document)
        except ValueError as error:
            raise ValidationFailed([FieldError("document", str(error))]) from None
        owner = security.owner_security(document)
        return json_response({"document": document, "ownerStatistics": _statistics(owner)})
    if key is None or document is not None:
        raise ValidationFailed([FieldError("key", "give either key or document, not both")])
    try:
        key_type = key_type_of(key)
    except ValueError as error:
        raise ValidationFailed([FieldError("key", str(error))]) from None
    found = security.key_security(key_type, key)
    if found is None:
        raise NotFound("The key resolves to nothing in the sandbox DICT.")
    return json_response(
        {
            "key": key,
            "keyType": key_type.value,
            "ownerDocument": found.owner_document,
            "keyStatistics": _statistics(found.key),
            "ownerStatistics": _statistics(found.owner),
        }
    )


@router.post(
    "/pix/pay",
    summary="Pay a BR Code or a key, as a customer of another bank would (sandbox mode only)",
    status_code=201,
    responses=errors(400, 401, 404, 422),
    openapi_extra=body(SandboxPayIn),
)
async def pay(request: Request, _: Caller = Depends(authenticated)) -> Response:
    services = services_of(request)
    data = parse_body(SandboxPayIn, await json_body(request), participants=services.participants)
    payer = Payer(data.payer.name, data.payer.document, data.payer.ispb) if data.payer else None
    end_to_end_id = await run_in_threadpool(
        functools.partial(
            services.sandbox_payer.pay,
            br_code=data.br_code,
            pix_key=data.pix_key,
            amount=data.amount,
            payer=payer,
            paid_at=data.paid_at,
        )
    )
    return json_response({"endToEndId": end_to_end_id}, status=201)


@router.post(
    "/cash-out/{internalCode}/return",
    summary="Play the payee's bank sending (part of) a cash-out back (sandbox mode only)",
    status_code=201,
    responses=errors(400, 401, 404, 409, 422),
    openapi_extra=body(ReturnIn),
)
async def return_cash_out(
    request: Request,
    internal_code: str = Path(alias="internalCode", pattern=INTERNAL_CODE_PATTERN),
    caller: Caller = Depends(authenticated),
) -> Response:
    services = services_of(request)
    data = parse_body(ReturnIn, await json_body(request))
    await run_in_threadpool(
        services.sandbox_returns.send_back,
        caller.client,
        internal_code,
        data.amount,
        data.reason.value,
    )
    found = services.cash_outs.get(caller.client, internal_code)
    return json_response(views.cash_out(found, services.returns.of(found)), status=201)
