"""Verify a ConnectPSP webhook and read it as a typed event.

    from connectpsp import webhooks

    event = webhooks.verify(body, headers, secret)  # raises WebhookVerificationError
    if isinstance(event, webhooks.CashOutCompleted): ...
    elif isinstance(event, webhooks.CashInCompleted): ...
    elif isinstance(event, webhooks.RefundCompleted): ...  # event.refund, as GET reads it
    elif isinstance(event, webhooks.InfractionChanged): ...  # MED: event.infraction

``secret`` is the ``whsec_…`` that signed it: your client's ``webhookSecret`` for a
cash-out's own ``webhookUrl``, or the endpoint's ``secret`` for registered endpoints.
During a rotation, pass both secrets in a list: either one will do.

The verifier is part of the SDK and lives with it in ``connectpsp.client._webhooks``;
this module is its public path, kept so ``connectpsp.webhooks`` stays stable. It only
re-exports (the same objects, not copies) and imports nothing but ``connectpsp.client``.
"""

from __future__ import annotations

from connectpsp.client._events import Event as Event

# DEFAULT_TOLERANCE and Event (the union ``verify`` returns) are not in __all__ but were
# always reachable here; "as" marks them re-exported for type checkers.
from connectpsp.client._webhooks import DEFAULT_TOLERANCE as DEFAULT_TOLERANCE
from connectpsp.client._webhooks import (
    CashInCompleted,
    CashInExpired,
    CashInMovement,
    CashInRefundMovement,
    CashOutCompleted,
    CashOutFailed,
    CashOutMovement,
    CashOutReturned,
    CashOutReturnMovement,
    Counterpart,
    InfractionChanged,
    InfractionMovement,
    RefundCompleted,
    RefundFailed,
    WebhookVerificationError,
    verify,
)

__all__ = [
    "CashInCompleted",
    "CashInExpired",
    "CashInMovement",
    "CashInRefundMovement",
    "CashOutCompleted",
    "CashOutFailed",
    "CashOutMovement",
    "CashOutReturnMovement",
    "CashOutReturned",
    "Counterpart",
    "InfractionChanged",
    "InfractionMovement",
    "RefundCompleted",
    "RefundFailed",
    "WebhookVerificationError",
    "verify",
]
