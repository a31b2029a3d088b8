"""The ConnectPSP SDK (base install: httpx only). Public names are re-exported from
the ``connectpsp`` package, and the webhook verifier's (``_webhooks``) from
``connectpsp.webhooks``."""
