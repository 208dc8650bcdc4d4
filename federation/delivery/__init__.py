"""Exactly-once effects over an at-least-once bus: outbox, relay, consumer, inbox, quarantine.

    party = Party(id="n1", db=db, signing_key=key, handlers={"partynet.x.v1": apply_x})
    send(session, "partynet.x.v1", destination="hub", data={...})   # in the business transaction
    Relay(party, bus).run(stop)                                      # publishes, retransmits, acks
    Consumer(party).run(bus, stop)                                   # verifies, dedups, applies

See docs/protocol.md ("Delivery guarantees") for what this promises and what it does not.
"""

from federation.delivery.consumer import Consumer, Outcome
from federation.delivery.outbox import send
from federation.delivery.party import Handler, Party, Timing
from federation.delivery.relay import Relay

__all__ = ["Consumer", "Handler", "Outcome", "Party", "Relay", "Timing", "send"]
