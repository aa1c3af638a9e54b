"""Fresh authentications at the identity provider, each good for one electronic signature (docs/oidc.md).

A person signed in through OpenID Connect has no password the HMI could check. Before they sign, the signature
dialog sends them to the provider again (`prompt=login`, `max_age=0`); the callback checks that the provider asked
for the password after the request and that the same person answered, then records the proof here. The signature
takes it: once, within `FRESH_WINDOW`, by the same person on the same station (21 CFR 11.200(a)(1): both
components, the user id and the password, entered at the provider for this signing).

Kept in the process's memory: a proof is minutes old at most, and a signature given on the other instance of a
redundant pair asks for a fresh sign-in there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hmi.clock import Clock

# Long enough to come back from the provider's page and press Sign; short enough that the signature follows the
# password entry as one act.
FRESH_WINDOW = timedelta(minutes=5)
# A bound on proofs nobody took (people who confirmed and then cancelled the dialog).
_MOST = 1000


@dataclass(frozen=True, slots=True)
class FreshSignIn:
    """The provider asked `user_id` for their password at `auth_time`; recorded at `at`."""

    auth_time: datetime | None
    at: datetime


class FreshSignIns:
    """The proofs of fresh authentication not yet spent, by (user id, station)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._proofs: dict[tuple[int, str], FreshSignIn] = {}

    def record(self, user_id: int, station: str, auth_time: datetime | None) -> None:
        """The person `user_id` just authenticated again at the provider on `station`."""
        now = self._clock()
        self._drop_old(now)
        if len(self._proofs) >= _MOST:
            del self._proofs[next(iter(self._proofs))]
        self._proofs[(user_id, station)] = FreshSignIn(auth_time, now)

    def pending(self, user_id: int, station: str) -> FreshSignIn | None:
        """The proof the next signature of `user_id` on `station` would take, without taking it."""
        proof = self._proofs.get((user_id, station))
        return proof if proof is not None and self._clock() - proof.at <= FRESH_WINDOW else None

    def take(self, user_id: int, station: str) -> FreshSignIn | None:
        """Spend the proof for one signature; None when there is none or it is older than `FRESH_WINDOW`."""
        proof = self.pending(user_id, station)
        self._proofs.pop((user_id, station), None)
        return proof

    def forget(self, user_id: int) -> None:
        """The person's sessions ended (sign-out, lock, switch): an unspent proof must not outlive them."""
        for key in [k for k in self._proofs if k[0] == user_id]:
            del self._proofs[key]

    def _drop_old(self, now: datetime) -> None:
        for key in [k for k, p in self._proofs.items() if now - p.at > FRESH_WINDOW]:
            del self._proofs[key]
