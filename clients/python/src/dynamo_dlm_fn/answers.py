"""lock-fn's answers as typed values (README.md "The protocol"; lock-protocol/src/response.rs).

Owner tokens are never part of a ``repr``: a :class:`Grant` keeps its ``owner`` (the credential for
release and renew) out of it, and a :class:`LockStatus` holds owner *digests* only.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

from .errors import BadResponseError


def owner_digest(owner: str) -> str:
    """The public form of an owner token, as ``describe`` shows it: the first 128 bits of its
    SHA-256, 32 lowercase hex digits. Knowing it lets nobody release, renew or re-acquire."""
    return hashlib.sha256(owner.encode()).hexdigest()[:32]


def _req(answer: Mapping[str, Any], key: str, kind: Any) -> Any:
    value = answer.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise BadResponseError(f"answer lacks `{key}` ({kind.__name__}): fields {sorted(answer)}")
    return value


def _opt_int(answer: Mapping[str, Any], key: str) -> Optional[int]:
    value = answer.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class Grant:
    """A granted acquire: ``{"acquired": true, "resource_id", "owner", "fence", ...}``."""

    resource_id: str
    #: The owner token: the credential to release and renew. Never shown in ``repr``.
    owner: str = field(repr=False)
    #: Fencing token: strictly larger than every earlier grant's on this resource.
    fence: int
    #: When the lease ends, epoch ms by lock-fn's clock.
    expires_at_ms: int
    #: The lease length granted, ms.
    duration_ms: int
    #: When the lease began, epoch ms by lock-fn's clock.
    acquired_at_ms: int = 0
    #: This owner already held the lock: the answer repeats that grant (same fence).
    reacquired: bool = False
    #: Lease time left when lock-fn answered (count it from when you *sent* the request).
    expires_in_ms: Optional[int] = None
    #: A semaphore's limit (``None``: the mutex).
    limit: Optional[int] = None
    #: A semaphore: how many hold it now, this grant included.
    holders: Optional[int] = None

    @property
    def lease_left_ms(self) -> int:
        """``expires_in_ms``, or (from a lock-fn that predates it) the whole lease of a fresh grant
        and nothing of a repeated one."""
        if self.expires_in_ms is not None:
            return self.expires_in_ms
        return 0 if self.reacquired else self.duration_ms

    @classmethod
    def from_answer(cls, answer: Mapping[str, Any]) -> "Grant":
        return cls(
            resource_id=_req(answer, "resource_id", str),
            owner=_req(answer, "owner", str),
            fence=_req(answer, "fence", int),
            expires_at_ms=_req(answer, "expires_at_ms", int),
            duration_ms=_req(answer, "duration_ms", int),
            acquired_at_ms=_opt_int(answer, "acquired_at_ms") or 0,
            reacquired=bool(answer.get("reacquired", False)),
            expires_in_ms=_opt_int(answer, "expires_in_ms"),
            limit=_opt_int(answer, "limit"),
            holders=_opt_int(answer, "holders"),
        )


@dataclass(frozen=True)
class Refusal:
    """A refused acquire: ``{"acquired": false, "resource_id", "retry_after_ms", ...}``."""

    resource_id: str
    #: Come back after this long (ms).
    retry_after_ms: int
    #: When the holder's lease ends (epoch ms), when lock-fn could tell.
    holder_expires_at_ms: Optional[int] = None
    holder_fence: Optional[int] = None
    #: The holder's public label, when it gave one.
    holder: Optional[str] = None
    #: The caller holds a place in the lock's queue (it keeps it while it comes back in time).
    queued: bool = False
    #: The place (1 = next), when queued.
    position: Optional[int] = None
    queue_length: Optional[int] = None
    limit: Optional[int] = None
    holders: Optional[int] = None

    @classmethod
    def from_answer(cls, answer: Mapping[str, Any]) -> "Refusal":
        holder = answer.get("holder")
        return cls(
            resource_id=_req(answer, "resource_id", str),
            retry_after_ms=_req(answer, "retry_after_ms", int),
            holder_expires_at_ms=_opt_int(answer, "holder_expires_at_ms"),
            holder_fence=_opt_int(answer, "holder_fence"),
            holder=holder if isinstance(holder, str) else None,
            queued=bool(answer.get("queued", False)),
            position=_opt_int(answer, "position"),
            queue_length=_opt_int(answer, "queue_length"),
            limit=_opt_int(answer, "limit"),
            holders=_opt_int(answer, "holders"),
        )


def acquire_answer(answer: Mapping[str, Any]) -> "Grant | Refusal":
    """A grant or a refusal, told apart by ``acquired``."""
    acquired = answer.get("acquired")
    if acquired is True:
        return Grant.from_answer(answer)
    if acquired is False:
        return Refusal.from_answer(answer)
    raise BadResponseError(f"acquire answer has no boolean `acquired`: fields {sorted(answer)}")


@dataclass(frozen=True)
class ReleaseOutcome:
    """What a release achieved, as far as the caller can know.

    ``released``: this release ended the lease (at ``released_at_ms``, lock-fn's clock).
    ``uncertain`` (with ``released`` false): an earlier attempt of this release may have ended the
    lease unseen, or it had ended before - the lock is free of this grant either way, but whether
    the work done under it ran past its lease cannot be told. Neither: the lock was no longer held
    by this owner (its lease ended and/or another owner took it).
    """

    released: bool
    uncertain: bool = False
    released_at_ms: Optional[int] = None

    def __bool__(self) -> bool:
        return self.released


@dataclass(frozen=True)
class Renewal:
    """A renew's answer; ``renewed`` false: the caller no longer holds the lock."""

    renewed: bool
    expires_at_ms: Optional[int] = None
    fence: Optional[int] = None
    duration_ms: Optional[int] = None
    expires_in_ms: Optional[int] = None

    @classmethod
    def from_answer(cls, answer: Mapping[str, Any]) -> "Renewal":
        renewed = _req(answer, "renewed", bool)
        return cls(renewed, _opt_int(answer, "expires_at_ms"), _opt_int(answer, "fence"),
                   _opt_int(answer, "duration_ms"), _opt_int(answer, "expires_in_ms"))


@dataclass(frozen=True)
class QueuedWaiter:
    """A waiter as ``describe`` shows it: its owner digest and label, never its token."""

    owner_digest: str
    holder: Optional[str] = None
    waiting_now: bool = False


@dataclass(frozen=True)
class HolderInfo:
    """A semaphore holder as ``describe`` shows it."""

    owner_digest: str
    fence: int
    expires_at_ms: int
    holder: Optional[str] = None


@dataclass(frozen=True)
class LockStatus:
    """``describe``'s answer: who holds the lock and who waits (a consistent read)."""

    resource_id: str
    #: A lease is running now.
    held: bool
    #: The holder's owner digest (see :func:`owner_digest`); ``None`` when free.
    owner_digest: Optional[str] = None
    holder: Optional[str] = None
    #: Whether the caller holds it (only when the request carried the caller's owner).
    yours: Optional[bool] = None
    #: The holder's fence (``None`` when free or when a dynamo-dlm client holds it).
    fence: Optional[int] = None
    expires_at_ms: Optional[int] = None
    queue_length: int = 0
    queue: Tuple[QueuedWaiter, ...] = ()
    limit: Optional[int] = None
    holders: Tuple[HolderInfo, ...] = ()

    @classmethod
    def from_answer(cls, answer: Mapping[str, Any]) -> "LockStatus":
        queue: List[QueuedWaiter] = []
        for w in answer.get("queue") or ():
            queue.append(QueuedWaiter(str(w.get("owner")), w.get("holder"),
                                      bool(w.get("waiting_now", False))))
        holders: List[HolderInfo] = []
        for h in answer.get("holders") or ():
            holders.append(HolderInfo(str(h.get("owner")), int(h.get("fence", 0)),
                                      int(h.get("expires_at_ms", 0)), h.get("holder")))
        yours = answer.get("yours")
        return cls(
            resource_id=_req(answer, "resource_id", str),
            held=_req(answer, "held", bool),
            owner_digest=answer.get("owner"),
            holder=answer.get("holder"),
            yours=yours if isinstance(yours, bool) else None,
            fence=_opt_int(answer, "fence"),
            expires_at_ms=_opt_int(answer, "expires_at_ms"),
            queue_length=_opt_int(answer, "queue_length") or 0,
            queue=tuple(queue),
            limit=_opt_int(answer, "limit"),
            holders=tuple(holders),
        )


@dataclass(frozen=True)
class CancelOutcome:
    """``cancel``'s answer: the owner was queued or held a grant and is neither any more
    (``cancelled``); a grant made to it meanwhile was released and handed on (``released``)."""

    cancelled: bool
    released: bool = False

    @classmethod
    def from_answer(cls, answer: Dict[str, Any]) -> "CancelOutcome":
        return cls(_req(answer, "cancelled", bool), bool(answer.get("released", False)))
