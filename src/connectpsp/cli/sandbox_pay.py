"""``sandbox pay``: a customer of another bank pays a BR Code or a Pix key, through the
simulated network's inbound side, in this process (as ``POST /sandbox/pix/pay`` does)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer

from connectpsp import brcode
from connectpsp.cli.database import load_settings, open_container
from connectpsp.cli.errors import USAGE, CliError, fields
from connectpsp.domain.documents import document_type
from connectpsp.domain.errors import ValidationFailed
from connectpsp.domain.money import Centavos, parse_amount
from connectpsp.domain.text import clean_text

__all__ = ["sandbox_pay"]

MAX_PAYER_NAME = 120  # as the API's payer.name
# The fields the sandbox payer's validation names, as this command's arguments.
_OPTIONS = {
    "brCode": "BRCODE",
    "pixKey": "--key",
    "amount": "--amount",
    "paidAt": "--paid-at",
    "body": "BRCODE or --key",
}


def sandbox_pay(
    br_code: Annotated[
        str | None,
        typer.Argument(metavar="BRCODE", help='The BR Code ("Pix copia e cola") to pay.'),
    ] = None,
    key: Annotated[
        str | None, typer.Option("--key", help="Pay this Pix key instead (with --amount).")
    ] = None,
    amount: Annotated[
        str | None,
        typer.Option(help="Amount in reais, e.g. 25.50: for a key, or a code without one."),
    ] = None,
    payer_name: Annotated[
        str | None, typer.Option(help="Who pays (by default, a sandbox payer at Itaú).")
    ] = None,
    payer_document: Annotated[str | None, typer.Option(help="The payer's CPF or CNPJ.")] = None,
    payer_ispb: Annotated[
        str | None, typer.Option(help="The 8-digit ISPB of the payer's bank.")
    ] = None,
    paid_at: Annotated[
        str | None,
        typer.Option(
            help="When SPI settled it, in the past, with its offset (2026-09-04T23:40:50-03:00)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Pay a BR Code, or a Pix key, as a customer of another bank would (sandbox only);
    print the payment's endToEndId."""
    from connectpsp.adapters.participants import load_participants
    from connectpsp.service.rail import Payer

    # Every argument is checked before the database is opened.
    if (br_code is None) == (key is None):
        raise CliError("give a BRCODE to pay, or --key with --amount, and not both", USAGE)
    if br_code is not None:
        try:
            brcode.decode(br_code)
        except brcode.BrCodeError as error:
            raise CliError(f"BRCODE: {error}", USAGE) from None
    elif amount is None:
        raise CliError("--amount is required with --key", USAGE)
    centavos = _amount(amount)
    settled_at = _moment(paid_at)
    payer = None
    if payer_name is not None and payer_document is not None and payer_ispb is not None:
        if not load_participants().is_pix_participant(payer_ispb):
            raise CliError("--payer-ispb is not the ISPB of a known Pix participant", USAGE)
        payer = Payer(_payer_name(payer_name), _document(payer_document), payer_ispb)
    elif (payer_name, payer_document, payer_ispb) != (None, None, None):
        raise CliError("--payer-name, --payer-document and --payer-ispb go together", USAGE)
    settings = load_settings()
    if not settings.sandbox:
        raise CliError("sandbox pay is available in sandbox mode only", USAGE)
    with open_container(settings, migrate=False) as container:
        try:
            end_to_end_id = container.sandbox_payer.pay(
                br_code=br_code, pix_key=key, amount=centavos, payer=payer, paid_at=settled_at
            )
        except ValidationFailed as error:  # a code without an amount, another PSP's code
            raise CliError(fields(error, _OPTIONS), USAGE) from None
    typer.echo(json.dumps({"endToEndId": end_to_end_id}) if as_json else end_to_end_id)


def _amount(text: str | None) -> Centavos | None:
    if text is None:
        return None
    try:
        return parse_amount(text)
    except ValueError as error:
        raise CliError(f"--amount {error}", USAGE) from None


def _moment(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.utcoffset() is None:
        raise CliError(
            "--paid-at must be a time with its offset, as 2026-09-04T23:40:50-03:00", USAGE
        )
    return moment


def _payer_name(text: str) -> str:
    name = text.strip()
    if not 1 <= len(name) <= MAX_PAYER_NAME:
        raise CliError(f"--payer-name must be 1 to {MAX_PAYER_NAME} characters", USAGE)
    try:
        return clean_text(name)
    except ValueError as error:
        raise CliError(f"--payer-name {error}", USAGE) from None


def _document(text: str) -> str:
    try:
        document_type(text)
    except ValueError as error:
        raise CliError(f"--payer-document {error}", USAGE) from None
    return text
