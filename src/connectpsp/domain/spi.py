"""The Pix network's vocabulary: pacs.002 reason codes and what they mean to a client."""

from __future__ import annotations

from enum import StrEnum

from connectpsp.domain.cashout import Failure

__all__ = ["PIX_KEY_NOT_FOUND", "ReasonCode", "failure_for"]


class ReasonCode(StrEnum):
    """pacs.002 rejection reasons used by SPI (BCB's catalogue of Pix messages)."""

    AC03 = "AC03"  # invalid creditor account number
    AC06 = "AC06"  # account blocked
    AC07 = "AC07"  # account closed
    AC14 = "AC14"  # invalid creditor account type
    AG03 = "AG03"  # transaction type not supported for this account
    AM02 = "AM02"  # amount exceeds the allowed maximum
    BE01 = "BE01"  # creditor's document does not match the account holder
    CH11 = "CH11"  # wrong creditor identifier (CPF/CNPJ)
    AB03 = "AB03"  # settlement aborted: timeout
    AB09 = "AB09"  # settlement aborted: error at the creditor's institution
    DS04 = "DS04"  # order rejected by the creditor's institution
    RR04 = "RR04"  # regulatory reason
    ED05 = "ED05"  # settlement failed


# Keyed by the code as text (a ReasonCode is its own text), so a raw code looks up too.
_FAILURES: dict[str, Failure] = {
    ReasonCode.AC03: Failure("INVALID_ACCOUNT", "The payee's account number is invalid."),
    ReasonCode.AC06: Failure("ACCOUNT_BLOCKED", "The payee's account is blocked."),
    ReasonCode.AC07: Failure("ACCOUNT_CLOSED", "The payee's account is closed."),
    ReasonCode.AC14: Failure(
        "INVALID_ACCOUNT_TYPE", "The payee's account type does not accept this payment."
    ),
    ReasonCode.AM02: Failure(
        "AMOUNT_LIMIT_EXCEEDED", "The amount exceeds a limit at the payee's institution."
    ),
    ReasonCode.BE01: Failure(
        "DOCUMENT_MISMATCH", "The payee's document does not match the account holder's."
    ),
    ReasonCode.AB03: Failure(
        "SETTLEMENT_TIMEOUT", "Settlement timed out in the Pix network; no money was moved."
    ),
    ReasonCode.AB09: Failure(
        "RECEIVER_ERROR", "The payee's institution failed to process the payment."
    ),
    ReasonCode.DS04: Failure(
        "REJECTED_BY_RECEIVER", "The payee's institution rejected the payment."
    ),
    ReasonCode.RR04: Failure("SANCTIONED_PARTY", "The payment was refused for regulatory reasons."),
    ReasonCode.ED05: Failure("PAYMENT_FAILED", "Settlement failed in the Pix network."),
}
_FAILURES[ReasonCode.AG03] = _FAILURES[ReasonCode.AC14]
_FAILURES[ReasonCode.CH11] = _FAILURES[ReasonCode.BE01]

PIX_KEY_NOT_FOUND = Failure(
    "PIX_KEY_NOT_FOUND", "The provided PIX key did not resolve to a valid account."
)


def failure_for(reason: str | None) -> Failure:
    """The client-facing failure for a rejection's reason code, as the rail sent it.

    A code outside the catalogue above (a new BCB code, a rail's own, or none at all) is
    still a rejection: it maps to ``PAYMENT_FAILED`` (ED05's failure), and the caller
    keeps the raw code with the cash-out."""
    found = _FAILURES.get(reason) if reason is not None else None
    return found or _FAILURES[ReasonCode.ED05]
