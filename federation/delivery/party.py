"""Who we are on the bus and how delivery behaves: the one object relay and consumer share."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Callable, Mapping

from sqlalchemy.orm import Session

from federation.delivery.keystore import KeyStore
from federation.envelope import Envelope
from federation.keys import SigningKey
from shared.db.session import Database

#: Applies one message's effect inside the consumer's transaction. Raise to refuse it: the
#: message is quarantined with the error and the stream goes on (see Consumer).
Handler = Callable[[Session, Envelope], None]
#: Checks that the source may speak for the envelope's tenant and type; raise Rejected.
Authorizer = Callable[[Session, Envelope], None]


@dataclasses.dataclass(frozen=True)
class Timing:
    """Delivery timings; the defaults suit production, tests shrink them."""

    #: Accepted clock difference between sender and receiver.
    skew: dt.timedelta = dt.timedelta(minutes=5)
    #: First retransmission of an unacknowledged message, then doubling with jitter.
    retransmit_after: dt.timedelta = dt.timedelta(seconds=30)
    retransmit_max: dt.timedelta = dt.timedelta(hours=6)
    jitter: tuple[float, float] = (0.8, 1.4)
    #: Retransmissions to one peer go at most this far past what it acknowledged, so a peer
    #: that is down is probed, not flooded with its whole backlog again and again.
    window: int = 500
    #: A gap is reported to the sender at most this often per stream.
    resend_interval: dt.timedelta = dt.timedelta(seconds=10)
    #: A peer whose queue does not exist: first pause, then doubling up to the cap.
    block_initial: dt.timedelta = dt.timedelta(seconds=10)
    block_max: dt.timedelta = dt.timedelta(hours=1)
    #: Messages per relay round and per destination.
    batch: int = 500
    #: The broker did not take a publish (down, restarting, unreachable): the messages are due
    #: again after this, doubling with jitter per consecutive failed round, capped, so that an
    #: outage is probed, not hammered, and the backlog goes out soon after the broker is back.
    publish_retry: dt.timedelta = dt.timedelta(seconds=1)
    publish_retry_max: dt.timedelta = dt.timedelta(seconds=30)
    #: Reload keys from the database on an unknown key id at most this often.
    keys_refresh: dt.timedelta = dt.timedelta(seconds=30)
    #: A peer key not confirmed by a directory for this long is no longer trusted (the hub,
    #: being the directory's author, sets it very long).
    trust_horizon: dt.timedelta = dt.timedelta(days=7)

    def retransmit_delay(self, attempts: int, rng: random.Random = random._inst) -> dt.timedelta:
        """Synapse-style: `retransmit_after` doubling per attempt, jittered, capped."""
        base = self.retransmit_after * (2 ** min(max(attempts - 1, 0), 30))
        return min(base * rng.uniform(*self.jitter), self.retransmit_max)

    def publish_retry_delay(self, failures: int,
                            rng: random.Random = random._inst) -> dt.timedelta:
        """After `failures` failed rounds in a row: `publish_retry` doubling, jittered, capped."""
        base = self.publish_retry * (2 ** min(max(failures - 1, 0), 30))
        return min(base * rng.uniform(*self.jitter), self.publish_retry_max)


@dataclasses.dataclass
class Party:
    """A node or the hub as a bus participant."""

    id: str
    db: Database
    signing_key: SigningKey
    handlers: Mapping[str, Handler]
    timing: Timing = dataclasses.field(default_factory=Timing)
    authorize: Authorizer | None = None
    keys: KeyStore = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.keys = KeyStore(self.db, refresh_every=self.timing.keys_refresh,
                             trust_horizon=self.timing.trust_horizon)
