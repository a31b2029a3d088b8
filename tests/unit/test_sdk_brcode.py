"""The SDK reads a BR Code locally: ``connectpsp.brcode`` decodes with no server, and a
client that could reach one sends nothing while it does."""

from __future__ import annotations

import httpx
import pytest

import connectpsp
from connectpsp import ConnectPSP, brcode

# BCB, Manual de Padrões para Iniciação do Pix (v2.10.0), §2.7.2 (dynamic).
BCB_DYNAMIC = (
    "00020101021226700014br.gov.bcb.pix2548pix.example.com/8b3da2f39a4140d1a91abd93113bd441"
    "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***630464E4"
)


def test_the_sdk_decodes_a_brcode_without_a_server() -> None:
    sent: list[httpx.Request] = []

    def nowhere(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        raise httpx.ConnectError("no server here", request=request)

    with ConnectPSP(
        "http://127.0.0.1:9",
        "client",
        "secret",
        "crypto",
        "app",
        transport=httpx.MockTransport(nowhere),
        max_retries=0,
    ):
        code = connectpsp.brcode.decode(BCB_DYNAMIC)
    assert code == brcode.BrCode(
        type="DYNAMIC",
        pix_key=None,
        url="pix.example.com/8b3da2f39a4140d1a91abd93113bd441",
        amount=None,
        merchant_name="Fulano de Tal",
        merchant_city="BRASILIA",
        txid="***",
        point_of_initiation="12",
    )
    assert sent == []
    with pytest.raises(brcode.BrCodeError) as refused:
        brcode.decode(BCB_DYNAMIC[:-4] + "0000")
    assert (refused.value.reason, refused.value.field) == ("CRC_MISMATCH", "63")
    assert isinstance(refused.value, ValueError)  # as the SDK's other local refusals
