"""The ConnectPSP SDK (base install: httpx only). Public names are re-exported from
the ``connectpsp`` package."""
