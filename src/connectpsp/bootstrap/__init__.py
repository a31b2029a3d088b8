"""The composition root: the only place that builds engines, clocks and services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from cryptography.exceptions import InvalidTag

from connectpsp.adapters import payload_json
from connectpsp.adapters.business_events import BusinessEvents, CountedInbound
from connectpsp.adapters.crypto import AesGcmCipher, Argon2Hasher, JwtCodec
from connectpsp.adapters.location_fetch import HttpLocationReader
from connectpsp.adapters.location_signing import LocationKeyring
from connectpsp.adapters.participants import load_participants
from connectpsp.adapters.rails.own_keys import OwnKeys
from connectpsp.adapters.rails.simulated import SimulatedPixNetwork
from connectpsp.adapters.rails.simulated_security import SimulatedDictSecurity
from connectpsp.adapters.storage.console_cashin_reads import SqlCashInReads
from connectpsp.adapters.storage.console_reads import SqlConsoleReads
from connectpsp.adapters.storage.db import Database
from connectpsp.adapters.storage.gauges import BacklogGauges, instrument_pool
from connectpsp.adapters.storage.location_keys import SqlLocationKeyStore
from connectpsp.adapters.storage.migrate import is_at_head, upgrade
from connectpsp.adapters.storage.operators import SqlOperatorStore
from connectpsp.adapters.storage.overview import SqlOverview
from connectpsp.adapters.storage.statement import SqlListings
from connectpsp.adapters.storage.throttle import SqlThrottleStore
from connectpsp.adapters.storage.uow import sql_unit_of_work_factory
from connectpsp.adapters.webhook_http import AddressGuard, HttpSender
from connectpsp.bootstrap.keys import master_key_mismatch, open_psp_accounts, signing_keys
from connectpsp.domain.clock import Clock, SystemClock
from connectpsp.domain.infractions import InfractionDecision
from connectpsp.domain.participants import ParticipantDirectory
from connectpsp.domain.pix_location import JWKS_PATH
from connectpsp.logs import get_logger
from connectpsp.metrics import Exposition
from connectpsp.service import cashins, cashouts, infractions, refunds, returns
from connectpsp.service.acceptance import AcceptanceEngine
from connectpsp.service.auth import AuthService
from connectpsp.service.batch import CashOutBatches
from connectpsp.service.blocks import Blocks
from connectpsp.service.brcode_payments import BrCodePayments
from connectpsp.service.cashins import CashInService
from connectpsp.service.cashouts import CashOutService
from connectpsp.service.clients import ClientService
from connectpsp.service.endpoints import WebhookEndpoints
from connectpsp.service.infractions import Infractions
from connectpsp.service.on_us import OnUsRail
from connectpsp.service.operators import Operators
from connectpsp.service.pix_keys import PixKeys
from connectpsp.service.ports import SecretHasher, UnitOfWorkFactory
from connectpsp.service.publisher import Publisher
from connectpsp.service.ratelimit import ThrottlePolicy, TokenThrottle
from connectpsp.service.refunds import Refunds, RefundSender
from connectpsp.service.returns import CashOutReturns
from connectpsp.service.risk import DictScreener, RiskDecisions
from connectpsp.service.sandbox import (
    SandboxDict,
    SandboxFraudMarkers,
    SandboxPayer,
    SandboxReturns,
)
from connectpsp.service.security import SecurityCache
from connectpsp.service.settlement import SettlementService
from connectpsp.service.statement import Listings
from connectpsp.settings import Settings
from connectpsp.worker.dispatcher import WebhookDispatcher
from connectpsp.worker.loops import background
from connectpsp.worker.runner import Worker

__all__ = ["Container", "build"]

# Failed console logins allowed in the throttle's window, per (email, address) and per address.
CONSOLE_FAILURES_PER_EMAIL = 5
CONSOLE_FAILURES_PER_IP = 20


@dataclass
class Container:
    """Everything one process builds; it is also the ``api.services.Services`` the API
    is given."""

    settings: Settings
    clock: Clock
    db: Database
    uow: UnitOfWorkFactory
    clients: ClientService
    auth: AuthService
    engine: AcceptanceEngine
    cash_outs: CashOutService
    cash_out_batches: CashOutBatches
    cash_ins: CashInService
    pix_keys: PixKeys
    returns: CashOutReturns
    refunds: Refunds
    refund_sender: RefundSender
    infractions: Infractions
    sandbox_returns: SandboxReturns
    blocks: Blocks
    br_codes: BrCodePayments
    sandbox_payer: SandboxPayer
    settlement: SettlementService
    endpoints: WebhookEndpoints
    risk: RiskDecisions
    publisher: Publisher
    dispatcher: WebhookDispatcher
    network: SimulatedPixNetwork
    sandbox_dict: SandboxDict
    # DICT's security information, as the checks before a cash-out's 202 read it.
    dict_security: SecurityCache
    sandbox_fraud_markers: SandboxFraudMarkers
    participants: ParticipantDirectory
    worker: Worker
    # Signs what dynamic codes' locations serve; publishes the JWKS.
    locations: LocationKeyring
    # What /metrics answers (docs/operations.md).
    metrics: Exposition
    # The lists of cash-outs and charges, and the statement (docs/statement.md).
    listings: Listings
    # The operator console's people, sessions and audit log, and its dashboard's reads.
    operators: Operators
    overview: SqlOverview
    console_reads: SqlConsoleReads  # the console's cash-out search and timelines
    cash_in_reads: SqlCashInReads  # the console's cash-ins and refunds

    def ping(self) -> bool:
        """Whether the database answers."""
        return self.db.ping()

    def schema_is_current(self) -> bool:
        """Whether the database is at this version's newest migration."""
        return is_at_head(self.db, schema=self.settings.database_schema)

    def follow_client_changes(self) -> bool:
        return self.auth.follow_changes()

    def close(self) -> None:
        self.engine.close()
        self.dispatcher.close()
        self.db.dispose()


def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    migrate: bool = True,
    hasher: SecretHasher | None = None,
) -> Container:
    clock = clock or SystemClock()
    db = Database(settings.database_url, schema=settings.database_schema)
    if settings.metrics:
        instrument_pool(db)
    if migrate:
        upgrade(db, schema=settings.database_schema)
    participants = load_participants()
    publisher = Publisher(encode=payload_json.encode)
    cashouts.register_payloads(publisher, participants)
    cashins.register_payloads(publisher, participants)
    returns.register_payloads(publisher, participants)
    refunds.register_payloads(publisher, participants)
    infractions.register_payloads(publisher)
    # Every committed state change is logged, and counted when metrics are on.
    told = BusinessEvents(count=settings.metrics)
    uow = sql_unit_of_work_factory(db, clock, publisher.publish, told.committed)
    cipher = AesGcmCipher(settings.master_key)
    hasher = hasher or Argon2Hasher()
    open_psp_accounts(uow)

    def reload_keys() -> dict[str, bytes]:
        return signing_keys(uow, cipher, clock, create=False)

    tokens = JwtCodec(
        signing_keys(uow, cipher, clock, create=True),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl=timedelta(seconds=settings.token_ttl_seconds),
        clock=clock,
        reload=reload_keys,
    )
    locations = LocationKeyring(
        SqlLocationKeyStore(db),
        cipher=cipher,
        clock=clock,
        jwks_url=settings.public_url + JWKS_PATH,
    )
    try:
        locations.ensure_key()
    except InvalidTag:
        raise master_key_mismatch() from None
    throttle = TokenThrottle(
        SqlThrottleStore(db),
        clock,
        ThrottlePolicy(
            per_pair=settings.token_failures_per_client,
            per_source=settings.token_failures_per_ip,
            window=timedelta(seconds=settings.token_failure_window_seconds),
            known_source=timedelta(hours=settings.token_known_source_hours),
        ),
    )
    # settings.rail names the rail; the simulated network is the only one shipped so far.
    network = SimulatedPixNetwork(
        db,
        clock=clock,
        participants=participants,
        latency=timedelta(milliseconds=settings.sandbox_latency_ms),
        home=settings.ispb,
    )
    security = SimulatedDictSecurity(network, db, clock=clock)
    if settings.sandbox:
        network.install_demo_keys()
        security.install_demo_markers()
    # A sandbox change empties this process's cache at once; other processes' entries
    # lapse within CONNECTPSP_DICT_CACHE_SECONDS.
    dict_security = SecurityCache(
        security, clock=clock, ttl=timedelta(seconds=settings.dict_cache_seconds)
    )
    guard = AddressGuard(allow_loopback=settings.webhooks_may_reach_loopback)
    webhooks = WebhookDispatcher(
        uow,
        clock=clock,
        cipher=cipher,
        sender=HttpSender(guard, timeout=settings.webhook_timeout_seconds, clock=clock),
        log=get_logger("connectpsp.webhooks"),
        # The longest any claim is leased; each gets what its place in its endpoint's
        # queue needs, (round + 2) x the timeout, which is never more than this.
        lease=timedelta(seconds=4 * settings.webhook_timeout_seconds + 30),
    )
    publisher.when_queued(webhooks.notify_queued)
    engine = AcceptanceEngine(uow, clock=clock, cipher=cipher, canonical=payload_json.canonical)
    retention = timedelta(hours=settings.idempotency_retention_hours)
    pix_keys = PixKeys(uow, clock=clock, directory=OwnKeys(network, ispb=settings.ispb))
    cash_out_returns = CashOutReturns(uow, clock=clock)
    cash_ins = CashInService(
        uow,
        engine=engine,
        clock=clock,
        keys=pix_keys,
        location_base=settings.location_base,
        lease=timedelta(seconds=settings.job_lease_seconds),
        # A Pix from a payer DICT marks for fraud is credited and held (domain.blocks).
        payer_marked=lambda document: dict_security.owner_security(document).marked,
        returned=cash_out_returns.returned,
    )
    inbound = CountedInbound(cash_ins, count=settings.metrics)
    network.connect(inbound)
    blocks = Blocks(uow, clock=clock, lease=timedelta(seconds=settings.job_lease_seconds))
    settlement = SettlementService(
        uow,
        # A payment to one of our own clients settles in our ledger, not through SPI.
        rail=OnUsRail(network, inbound, ispb=settings.ispb, clock=clock),
        clock=clock,
        ispb=settings.ispb,
        lease=timedelta(seconds=settings.job_lease_seconds),
    )
    lease = timedelta(seconds=settings.job_lease_seconds)
    refund_sender = RefundSender(uow, rail=network, clock=clock, ispb=settings.ispb, lease=lease)
    med = Infractions(
        uow,
        clock=clock,
        ispb=settings.ispb,
        default=InfractionDecision(settings.med_default),
        lease=lease,
        on_event=lambda: worker.wake(),
        # DICT counts the reports against the receiver (docs/sandbox.md).
        on_changed=dict_security.invalidate,
    )
    operators = Operators(
        SqlOperatorStore(db),
        hasher=hasher,
        clock=clock,
        # Logins count in the token throttle's table and window, under keys of their
        # own, with limits of their own: a person types, a script does not.
        throttle=TokenThrottle(
            SqlThrottleStore(db),
            clock,
            ThrottlePolicy(
                per_pair=CONSOLE_FAILURES_PER_EMAIL,
                per_source=CONSOLE_FAILURES_PER_IP,
                window=timedelta(seconds=settings.token_failure_window_seconds),
                known_source=timedelta(hours=settings.token_known_source_hours),
            ),
        ),
    )
    worker = background(
        settlement=settlement,
        due=[cash_ins.expire_due, blocks.release_due, refund_sender.send_due, med.decide_due],
        dispatcher=webhooks,
        housekeeping=[
            lambda: engine.forget_older_than(retention),
            throttle.prune,
            operators.forget_ended_sessions,
        ],
        poll=timedelta(milliseconds=settings.worker_poll_ms),
    )
    cash_outs = CashOutService(
        uow,
        engine=engine,
        screener=DictScreener(dict_security),
        on_accepted=worker.wake,
        on_committed=told.accepted,
    )
    endpoints = WebhookEndpoints(
        uow,
        engine=engine,
        clock=clock,
        cipher=cipher,
        guard=guard,
        event_types=publisher.event_types,
        on_queued=webhooks.notify_queued,
        refuse_placeholders=settings.sandbox,
    )
    auth = AuthService(uow, hasher=hasher, cipher=cipher, tokens=tokens, throttle=throttle)
    clients = ClientService(
        uow,
        clock=clock,
        hasher=hasher,
        cipher=cipher,
        default_fee_plan=settings.default_fee_plan,
        default_per_transaction_limit=settings.default_per_transaction_limit,
        default_daily_limit=settings.default_daily_limit,
        # A client disabled here is refused here at once; other processes forget it
        # at their next look at the clients' changes (every CLIENT_CHANGES_EVERY).
        on_changed=auth.forget,
    )
    return Container(
        settings=settings,
        clock=clock,
        db=db,
        uow=uow,
        clients=clients,
        auth=auth,
        engine=engine,
        cash_outs=cash_outs,
        cash_out_batches=CashOutBatches(engine, cash_outs),
        cash_ins=cash_ins,
        pix_keys=pix_keys,
        returns=cash_out_returns,
        refunds=Refunds(uow, engine=engine, ispb=settings.ispb, on_accepted=worker.wake),
        refund_sender=refund_sender,
        infractions=med,
        sandbox_returns=SandboxReturns(network, cash_outs=cash_outs),
        blocks=blocks,
        br_codes=BrCodePayments(
            HttpLocationReader(guard, allow_loopback_http=settings.sandbox), clock=clock
        ),
        sandbox_payer=SandboxPayer(
            network, cash_ins=cash_ins, clock=clock, location_base=settings.location_base
        ),
        settlement=settlement,
        endpoints=endpoints,
        risk=RiskDecisions(uow),
        publisher=publisher,
        dispatcher=webhooks,
        network=network,
        sandbox_dict=SandboxDict(network, on_changed=dict_security.invalidate),
        dict_security=dict_security,
        sandbox_fraud_markers=SandboxFraudMarkers(security, on_changed=dict_security.invalidate),
        participants=participants,
        worker=worker,
        locations=locations,
        metrics=Exposition(
            [BacklogGauges(db, clock, settle_topic=cashouts.SETTLE_TOPIC)]
            if settings.metrics
            else []
        ),
        listings=Listings(SqlListings(db)),
        operators=operators,
        overview=SqlOverview(db, clock, settle_topic=cashouts.SETTLE_TOPIC),
        console_reads=SqlConsoleReads(db),
        cash_in_reads=SqlCashInReads(db),
    )
