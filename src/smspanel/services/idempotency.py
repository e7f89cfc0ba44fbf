"""Idempotent sends: the same `Idempotency-Key` from the same user within 24 h gets the
first answer again, and nothing new is stored.

The key's row, with the answer, goes in at the end of the send's own transaction: a
stored answer always names a stored message, and a crash leaves neither. A twin racing on
another worker blocks on the row's unique (user, key) until the first commits, then fails,
rolls back everything it did, and replays the first answer (on SQLite the twin waits for
the write lock, then fails the same way). Only accepted sends (2xx) are
remembered: a refused one stored nothing, so the caller may correct it and reuse the key.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from smspanel.models import IdempotentRequest, utcnow
from smspanel.services.transactions import is_transient_conflict, transaction

KEY_LIFETIME = timedelta(hours=24)
MAX_KEY_LENGTH = 255
PURGE_INTERVAL_SECONDS = 60.0
# A twin that keeps losing (deadlocks on MariaDB) is told to come back rather than spin.
ATTEMPTS = 4

_last_purge = 0.0


class InvalidKey(ValueError):
    """The header is not 1-255 printable ASCII characters."""


class KeyReused(Exception):
    """The key was used for a different request within its 24 h."""


class KeyInProgress(Exception):
    """A request with this key is still running (it held the key longer than we wait)."""


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: str  # the JSON text, exactly as first sent
    replayed: bool = False


def read_key(value: str) -> str:
    if not value:
        raise InvalidKey("must not be empty")
    if len(value) > MAX_KEY_LENGTH:
        raise InvalidKey(f"must be at most {MAX_KEY_LENGTH} characters (got {len(value)})")
    if any(not (" " <= ch <= "~") for ch in value):
        raise InvalidKey("must be printable ASCII only (no control or non-ASCII characters)")
    return value


def fingerprint(method: str, path: str, body: bytes) -> str:
    """The request as the key must match it: JSON compared as data (key order and spacing
    aside), anything else byte for byte."""
    try:
        canonical = json.dumps(
            json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")
    except ValueError:
        canonical = body
    digest = hashlib.sha256(f"{method} {path}\n".encode())
    digest.update(canonical)
    return digest.hexdigest()


def answer_once(
    session: Session,
    user_id: int,
    key: str,
    request_fingerprint: str,
    work: Callable[[], Answer],
    now: datetime | None = None,
) -> Answer:
    """The stored answer for (user, key), or `work`'s, stored with what it did."""
    now = now or utcnow()
    for _attempt in range(ATTEMPTS):
        try:
            answer = _run(session, user_id, key, request_fingerprint, work, now)
        except _TwinCommitted:
            continue  # the first of the twins is in; the next round replays it
        except DBAPIError as exc:
            if not is_transient_conflict(exc):
                raise
            continue
        _purge_now_and_then(session, now)
        return answer
    raise KeyInProgress()


class _TwinCommitted(Exception):
    pass


class _Refused(Exception):
    def __init__(self, answer: Answer) -> None:
        self.answer = answer


def _run(
    session: Session,
    user_id: int,
    key: str,
    request_fingerprint: str,
    work: Callable[[], Answer],
    now: datetime,
) -> Answer:
    table = IdempotentRequest.__table__
    try:
        with transaction(session):
            stored = session.execute(
                select(
                    table.c.id,
                    table.c.fingerprint,
                    table.c.status_code,
                    table.c.response_body,
                    table.c.created_at,
                ).where(table.c.user_id == user_id, table.c.key == key)
            ).first()
            if stored is not None and stored.created_at > now - KEY_LIFETIME:
                if stored.fingerprint != request_fingerprint:
                    raise KeyReused()
                return Answer(stored.status_code, stored.response_body, replayed=True)
            answer = work()
            if not 200 <= answer.status_code < 300:
                raise _Refused(answer)  # roll back whatever it did: nothing is remembered
            if stored is not None:  # past its day: the key is free again
                session.execute(delete(table).where(table.c.id == stored.id))
            # Last, so the send's own locks are held no longer than without a key; a twin
            # blocks here until the first commits, then fails and replays it.
            try:
                session.execute(
                    insert(table),
                    {
                        "user_id": user_id,
                        "key": key,
                        "fingerprint": request_fingerprint,
                        "status_code": answer.status_code,
                        "response_body": answer.body,
                        "created_at": now,
                    },
                )
            except IntegrityError:
                raise _TwinCommitted() from None
    except _Refused as refused:
        return refused.answer
    return answer


def _purge_now_and_then(session: Session, now: datetime) -> None:
    """Keys past their day, deleted at most once a minute per process, after the answer."""
    global _last_purge
    if time.monotonic() - _last_purge < PURGE_INTERVAL_SECONDS:
        return
    _last_purge = time.monotonic()
    purge_expired_keys(session, now)


def purge_expired_keys(session: Session, now: datetime) -> int:
    with transaction(session):
        result = session.execute(
            delete(IdempotentRequest).where(IdempotentRequest.created_at <= now - KEY_LIFETIME)
        )
    return result.rowcount or 0  # type: ignore[attr-defined]
