"""Two or more bus parties, each with its own database, on a real bus, with a settable clock.

The effect under test is a row per applied ping in the party's `effects` table: applying a
message twice would show as two rows with the same message id.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from federation.delivery import Consumer, Party, Relay, Timing, send
from federation.delivery.keystore import remember_key
from federation.delivery.models import FederationModel, OutboxMessage
from federation.envelope import Envelope
from federation.keys import SigningKey
from federation.transport import Bus
from shared.db.session import Database, transaction

PING = "partynet.bus.ping.v1"
#: The tests' clock starts at the real time: outbox rows are stamped by the database defaults
#: (real time), and a fixed date would make them "not yet due" once the wall clock passed it.
EPOCH = dt.datetime.now(dt.UTC).replace(microsecond=0)
KEY_LIFE = dt.timedelta(days=365)


class EffectModel(DeclarativeBase):
    pass


class Effect(EffectModel):
    __tablename__ = "effects"
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(128))
    message_id: Mapped[str] = mapped_column(sa.String(36))
    n: Mapped[int]


class Clock:
    def __init__(self, now: dt.datetime = EPOCH) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def apply_ping(session: Session, envelope: Envelope) -> None:
    if envelope.data.get("note") == "poison":
        raise ValueError("this message cannot be applied")
    if envelope.data.get("note") == "fails-at-flush":  # NOT NULL: only the database says no
        session.add(Effect(source=envelope.source, message_id=envelope.id, n=None))
        return
    session.add(Effect(source=envelope.source, message_id=envelope.id,
                       n=envelope.data.get("n", 0)))


FAST = Timing(retransmit_after=dt.timedelta(seconds=10), resend_interval=dt.timedelta(seconds=5),
              block_initial=dt.timedelta(seconds=5), keys_refresh=dt.timedelta(0), window=50,
              batch=200)


@dataclasses.dataclass
class Node:
    party: Party
    relay: Relay
    consumer: Consumer
    bus: Bus

    @property
    def id(self) -> str:
        return self.party.id

    @property
    def db(self) -> Database:
        return self.party.db

    def send(self, destination: str, n: int, note: str | None = None, *,
             sequenced: bool = True) -> str:
        data: dict[str, Any] = {"n": n}
        if note:
            data["note"] = note
        with transaction(self.db) as session:
            return send(session, PING, destination=destination, data=data, sequenced=sequenced)

    def consume(self, idle: float = 0.3) -> None:
        """Drain the queue as it is now."""
        self.consumer.run(self.bus, idle_timeout=idle, batch_size=50)

    def effects(self, source: str | None = None) -> list[int]:
        with transaction(self.db) as session:
            query = sa.select(Effect.n).order_by(Effect.id)
            if source:
                query = query.where(Effect.source == source)
            return list(session.scalars(query))

    def message_ids_applied(self) -> list[str]:
        with transaction(self.db) as session:
            return list(session.scalars(sa.select(Effect.message_id)))

    def outbox(self) -> list[OutboxMessage]:
        with transaction(self.db) as session:
            return list(session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))

    def trust(self, other: Node, key: SigningKey | None = None) -> None:
        key = key or other.party.signing_key
        with transaction(self.db) as session:
            remember_key(session, key.public_key(other.id, valid_from=EPOCH - KEY_LIFE,
                                                 valid_until=EPOCH + KEY_LIFE))
        self.party.keys.reload()


def make_node(party_id: str, url: str, bus: Bus, clock: Clock, timing: Timing = FAST) -> Node:
    db = Database()
    db.configure(url)
    assert db.engine is not None
    FederationModel.metadata.create_all(db.engine)
    EffectModel.metadata.create_all(db.engine)
    party = Party(id=party_id, db=db, signing_key=SigningKey.generate(),
                  handlers={PING: apply_ping}, timing=timing)
    return Node(party, Relay(party, bus, clock=clock), Consumer(party, clock=clock), bus)
