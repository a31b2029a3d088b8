"""The table of the keys that sign dynamic codes' locations (``location_signing.py``),
on the storage schema's metadata, so one set of migrations creates it."""

from __future__ import annotations

from sqlalchemy import Column, String, Table, Text

from connectpsp.adapters.storage.schema import TZ, metadata

__all__ = ["location_keys"]

# The private key is encrypted under the master key. A retired key stops signing at
# ``retired_at`` but stays published a while, for what it signed just before.
location_keys = Table(
    "location_keys",
    metadata,
    Column("kid", String(64), primary_key=True),  # the public key's RFC 7638 thumbprint
    Column("private_key_enc", Text, nullable=False),
    Column("created_at", TZ, nullable=False),
    Column("retired_at", TZ, nullable=True),
)
