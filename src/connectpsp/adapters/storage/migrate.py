"""Run the Alembic migrations programmatically (``connectpsp migrate``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from connectpsp.adapters.storage.db import Database

__all__ = ["alembic_config", "upgrade"]

_HERE = Path(__file__).parent


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_HERE / "migrations"))
    return config


def upgrade(db: Database) -> None:
    config = alembic_config()
    # One writer at a time: on SQLite the first statement takes the write lock; on
    # PostgreSQL an advisory lock keeps two starting servers from racing.
    with db.engine.begin() as conn:
        if not db.is_sqlite:
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7349012)")
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
