"""SQL storage (SQLAlchemy Core) for SQLite and PostgreSQL."""
