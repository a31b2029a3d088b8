"""Configuration, read from ``CONNECTPSP_*`` environment variables only."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from connectpsp.domain.errors import ValidationFailed
from connectpsp.domain.ledger import FeePlan
from connectpsp.domain.money import Centavos, parse_amount

__all__ = ["DATABASE_URL_FORMS", "RAILS", "Settings", "SettingsError"]

RAILS = ("simulated",)
# The URL schemes CONNECTPSP_DATABASE_URL may start with; PostgreSQL's three all mean the
# psycopg 3 driver (the only one installed), and become ``postgresql+psycopg://``.
DATABASE_URL_FORMS = ("sqlite:///", "postgresql+psycopg://", "postgresql://", "postgres://")
_POSTGRES_SCHEMES = ("postgresql+psycopg", "postgresql", "postgres")
# Lowercase, so that the name PostgreSQL folds an unquoted search_path to is the same as
# the one `connectpsp migrate` creates.
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}", re.ASCII)


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///./var/connectpsp.db"
    database_schema: str | None = None
    env: str = "sandbox"
    var_dir: Path = Path("var")
    master_key: bytes = field(default=b"", repr=False)
    token_ttl_seconds: int = 3600
    jwt_issuer: str = "connectpsp"
    jwt_audience: str = "connectpsp-api"
    default_fee_plan: FeePlan = field(default_factory=FeePlan)
    default_per_transaction_limit: Centavos = 100_000_00
    default_daily_limit: Centavos = 1_000_000_00
    max_body_bytes: int = 64 * 1024
    # POST /cash-out/batch's cap instead: up to 1,000 cash-outs of about 1 KiB each.
    max_batch_body_bytes: int = 1024 * 1024
    # Deadlines on clients that are slow to send (api/server.py): a request head must
    # arrive within the first, its body within the second; an idle kept-alive connection
    # is closed after the third.
    header_timeout_seconds: int = 5
    body_timeout_seconds: int = 10
    keepalive_timeout_seconds: int = 5
    token_failures_per_client: int = 5
    token_failures_per_ip: int = 20
    token_failure_window_seconds: int = 300
    # A (clientId, source) pair that got a token this recently passes its source's limit.
    token_known_source_hours: int = 24
    ispb: str = "00416968"  # ours, as the payer in endToEndIds (the seed's settlement bank)
    sandbox_latency_ms: int = 1000
    # How long a DICT security answer is kept: a fraud marker set elsewhere is seen
    # within this.
    dict_cache_seconds: int = 60
    worker_poll_ms: int = 200
    job_lease_seconds: int = 30
    # How long a stored answer to an X-Idempotency-Key is kept (at least a day).
    idempotency_retention_hours: int = 48
    webhook_timeout_seconds: float = 15.0
    # None: allowed in the sandbox (local development), refused in production.
    webhook_allow_loopback: bool | None = None
    log_file: str | None = None  # JSON log lines are appended here as well as to stderr
    # What a MED report left undecided for 7 days becomes: "accept" (refund the payer)
    # or "reject" (release the funds to the client).
    med_default: str = "accept"
    log_level: str = "INFO"  # the least severe level logged: DEBUG, INFO, WARNING, ERROR
    # /metrics (Prometheus) and what feeds it; off only to measure what it costs.
    metrics: bool = True
    # The rail that pays. Only the simulated Pix network ships; it moves no real money,
    # so production must name it on purpose rather than fall into it.
    rail: str = "simulated"
    # Where payers reach this server: dynamic codes' locations and the JWKS that verifies
    # them are on it (scheme://host[:port], no path). Production needs https, but for a
    # loopback host (nothing outside this machine can pay then).
    public_url: str = "http://127.0.0.1:8000"

    @property
    def location_base(self) -> str:
        """The public URL without its scheme, as a BR Code writes a location."""
        return self.public_url.split("://", 1)[1]

    @property
    def webhooks_may_reach_loopback(self) -> bool:
        return self.sandbox if self.webhook_allow_loopback is None else self.webhook_allow_loopback

    @property
    def sandbox(self) -> bool:
        return self.env == "sandbox"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str, default: str | None = None) -> str | None:
            value = env.get(f"CONNECTPSP_{name}")
            return value if value not in (None, "") else default

        def integer(name: str, default: int) -> int:
            raw = get(name)
            try:
                return default if raw is None else int(raw)
            except ValueError:
                raise SettingsError(f"CONNECTPSP_{name} must be an integer") from None

        def money(name: str, default: Centavos) -> Centavos:
            raw = get(name)
            if raw is None:
                return default
            try:
                return 0 if raw.strip() in ("0", "0.00") else parse_amount(raw)
            except ValueError as error:
                raise SettingsError(f"CONNECTPSP_{name} {error}") from None

        mode = get("ENV", "sandbox")
        if mode not in ("sandbox", "production"):
            raise SettingsError("CONNECTPSP_ENV must be 'sandbox' or 'production'")
        var_dir = Path(get("VAR_DIR", "var") or "var")
        rail = get("RAIL")
        if rail is None and mode == "production":
            raise SettingsError(
                "CONNECTPSP_RAIL is required in production; the only rail this release ships "
                "is 'simulated', which moves no real money"
            )
        if rail not in (None, *RAILS):
            raise SettingsError(f"CONNECTPSP_RAIL must be one of: {', '.join(RAILS)}")
        defaults = cls()
        return cls(
            database_url=_database_url(get("DATABASE_URL", defaults.database_url)),
            database_schema=_schema(get("DATABASE_SCHEMA")),
            env=mode,
            var_dir=var_dir,
            master_key=_master_key(get("MASTER_KEY"), mode, var_dir),
            token_ttl_seconds=integer("TOKEN_TTL_SECONDS", defaults.token_ttl_seconds),
            default_fee_plan=_fee_plan(
                money("DEFAULT_FEE_FIXED", 0), integer("DEFAULT_FEE_BPS", 0)
            ),
            default_per_transaction_limit=money(
                "DEFAULT_PER_TRANSACTION_LIMIT", defaults.default_per_transaction_limit
            ),
            default_daily_limit=money("DEFAULT_DAILY_LIMIT", defaults.default_daily_limit),
            max_body_bytes=integer("MAX_BODY_BYTES", defaults.max_body_bytes),
            max_batch_body_bytes=integer("MAX_BATCH_BODY_BYTES", defaults.max_batch_body_bytes),
            header_timeout_seconds=_at_least(
                1,
                "HEADER_TIMEOUT_SECONDS",
                integer("HEADER_TIMEOUT_SECONDS", defaults.header_timeout_seconds),
            ),
            body_timeout_seconds=_at_least(
                1,
                "BODY_TIMEOUT_SECONDS",
                integer("BODY_TIMEOUT_SECONDS", defaults.body_timeout_seconds),
            ),
            keepalive_timeout_seconds=_at_least(
                1,
                "KEEPALIVE_TIMEOUT_SECONDS",
                integer("KEEPALIVE_TIMEOUT_SECONDS", defaults.keepalive_timeout_seconds),
            ),
            token_failures_per_client=integer(
                "TOKEN_FAILURES_PER_CLIENT", defaults.token_failures_per_client
            ),
            token_failures_per_ip=integer("TOKEN_FAILURES_PER_IP", defaults.token_failures_per_ip),
            token_known_source_hours=integer(
                "TOKEN_KNOWN_SOURCE_HOURS", defaults.token_known_source_hours
            ),
            ispb=_ispb(get("ISPB", defaults.ispb) or defaults.ispb),
            sandbox_latency_ms=integer("SANDBOX_LATENCY_MS", defaults.sandbox_latency_ms),
            dict_cache_seconds=_at_least(
                0,
                "DICT_CACHE_SECONDS",
                integer("DICT_CACHE_SECONDS", defaults.dict_cache_seconds),
            ),
            worker_poll_ms=integer("WORKER_POLL_MS", defaults.worker_poll_ms),
            job_lease_seconds=integer("JOB_LEASE_SECONDS", defaults.job_lease_seconds),
            idempotency_retention_hours=_at_least(
                24,
                "IDEMPOTENCY_RETENTION_HOURS",
                integer("IDEMPOTENCY_RETENTION_HOURS", defaults.idempotency_retention_hours),
            ),
            webhook_timeout_seconds=integer("WEBHOOK_TIMEOUT_SECONDS", 15),
            webhook_allow_loopback=_flag("WEBHOOK_ALLOW_LOOPBACK", get("WEBHOOK_ALLOW_LOOPBACK")),
            log_file=get("LOG_FILE"),
            med_default=_one_of("MED_DEFAULT", get("MED_DEFAULT"), ("accept", "reject"))
            or defaults.med_default,
            log_level=_log_level(get("LOG_LEVEL", defaults.log_level)),
            metrics=_flag("METRICS", get("METRICS")) is not False,
            rail=rail or defaults.rail,
            public_url=_public_url(get("PUBLIC_URL", defaults.public_url), mode),
        )


def _one_of(name: str, raw: str | None, allowed: tuple[str, ...]) -> str | None:
    if raw is None or raw == "":
        return None
    if raw not in allowed:
        raise SettingsError(f"CONNECTPSP_{name} must be one of: {', '.join(allowed)}")
    return raw


def _database_url(raw: str | None) -> str:
    """The URL as SQLAlchemy takes it. Messages never repeat the URL: it may hold a
    password."""
    url = raw or Settings.database_url
    scheme, separator, rest = url.partition("://")
    scheme = scheme.lower()
    if not separator or scheme not in ("sqlite", *_POSTGRES_SCHEMES):
        named = f" (not {scheme}://)" if separator and scheme.isidentifier() else ""
        raise SettingsError(
            f"CONNECTPSP_DATABASE_URL must start with {', '.join(DATABASE_URL_FORMS[:-1])} "
            f"or {DATABASE_URL_FORMS[-1]}{named}"
        )
    url = f"{'sqlite' if scheme == 'sqlite' else 'postgresql+psycopg'}://{rest}"
    from sqlalchemy.engine import make_url  # here: `connectpsp --help` need not load it
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise SettingsError("CONNECTPSP_DATABASE_URL is not a valid URL") from None
    if scheme == "sqlite" and not parsed.database:
        raise SettingsError(
            "CONNECTPSP_DATABASE_URL must name a SQLite file: sqlite:///relative/path.db "
            "or sqlite:////absolute/path.db"
        )
    if "@" in (parsed.host or ""):
        # user:p@ss@host: the host would hold part of the password, and errors name hosts.
        raise SettingsError(
            "CONNECTPSP_DATABASE_URL: percent-encode an @ in the user or password as %40"
        )
    return url


def _schema(name: str | None) -> str | None:
    if name is not None and _SCHEMA_NAME.fullmatch(name) is None:
        raise SettingsError(
            "CONNECTPSP_DATABASE_SCHEMA must be a lowercase name: letters a-z, digits and _, "
            "not starting with a digit, at most 63 characters"
        )
    return name


def _fee_plan(fixed: Centavos, bps: int) -> FeePlan:
    try:
        return FeePlan(fixed=fixed, bps=bps)
    except ValidationFailed as error:
        raise SettingsError(
            "; ".join(f"CONNECTPSP_DEFAULT_FEE_{e.field.upper()} {e.message}" for e in error.errors)
        ) from None


def _at_least(minimum: int, name: str, value: int) -> int:
    if value < minimum:
        raise SettingsError(f"CONNECTPSP_{name} must be at least {minimum}")
    return value


def _flag(name: str, value: str | None) -> bool | None:
    if value is None:
        return None
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise SettingsError(f"CONNECTPSP_{name} must be true or false")


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _log_level(value: str | None) -> str:
    level = (value or "INFO").upper()
    if level not in LOG_LEVELS:
        raise SettingsError(f"CONNECTPSP_LOG_LEVEL must be one of: {', '.join(LOG_LEVELS)}")
    return level


# A BR Code's field 26 holds 99 bytes: the GUI's 18, the location's own ID and length
# (4), "/qr/" and a 32-character id leave this much for the host and port.
MAX_LOCATION_BASE = 41


def _public_url(raw: str | None, mode: str) -> str:
    """scheme://host[:port], lowercased, without a trailing slash."""
    problem = "CONNECTPSP_PUBLIC_URL must be http(s)://host[:port], without path, query or user"
    parts = urlsplit(raw or "")
    try:
        parts.port  # noqa: B018 - a malformed port raises here
    except ValueError:
        raise SettingsError(problem) from None
    if (
        parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
    ):
        raise SettingsError(problem)
    scheme = parts.scheme.lower()
    if mode == "production" and scheme == "http" and not _loopback(parts.hostname):
        raise SettingsError("CONNECTPSP_PUBLIC_URL must be https in production")
    if len(parts.netloc) > MAX_LOCATION_BASE:
        raise SettingsError(
            f"CONNECTPSP_PUBLIC_URL's host and port must be at most {MAX_LOCATION_BASE} "
            "characters: dynamic BR Codes carry them"
        )
    return f"{scheme}://{parts.netloc.lower()}"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _ispb(value: str) -> str:
    if len(value) != 8 or not value.isdigit():
        raise SettingsError("CONNECTPSP_ISPB must be 8 digits")
    return value


def _master_key(raw: str | None, mode: str, var_dir: Path) -> bytes:
    """The key that encrypts secrets at rest: 32 bytes, base64. Required in production;
    in the sandbox it is generated once and kept in ``var/master.key``."""
    if raw is None:
        if mode == "production":
            raise SettingsError("CONNECTPSP_MASTER_KEY is required in production")
        path = var_dir / "master.key"
        if not path.exists():
            var_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
        raw = path.read_text().strip()
    try:
        key = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        raise SettingsError("CONNECTPSP_MASTER_KEY must be 32 bytes, base64-encoded") from None
    if len(key) != 32:
        raise SettingsError("CONNECTPSP_MASTER_KEY must be 32 bytes, base64-encoded")
    return key
