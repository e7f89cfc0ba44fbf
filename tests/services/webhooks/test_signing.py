"""The signature a receiver checks, verified by a few lines written as a receiver would write
them, from the contract alone: parse the header, recompute, compare in constant time, and
refuse a changed body or a signature older than five minutes."""

from __future__ import annotations

import hashlib
import hmac
import time

from smspanel.services.webhooks.signing import SIGNATURE_HEADER, new_secret, signature

TOLERANCE_SECONDS = 300


def verify(secret: str, header: str, body: bytes, now: float | None = None) -> bool:
    """A receiver's check of `X-Smspanel-Signature: t=<unix seconds>,v1=<hex>`."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
        given = fields["v1"]
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > TOLERANCE_SECONDS:
        return False
    signed = f"{timestamp}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)


BODY = '{"id":"5f0c","type":"message.final","data":{"content":"颱風 8 號"}}'.encode()


def test_the_header_is_named_as_the_contract_says():
    assert SIGNATURE_HEADER == "X-Smspanel-Signature"


def test_a_receiver_accepts_what_the_panel_signed():
    secret = new_secret()
    assert verify(secret, signature(secret, int(time.time()), BODY), BODY)


def test_a_tampered_body_is_refused():
    secret = new_secret()
    header = signature(secret, int(time.time()), BODY)
    assert not verify(secret, header, BODY.replace(b"8", b"3"))
    assert not verify(secret, header, BODY + b" ")


def test_a_replay_older_than_five_minutes_is_refused():
    secret = new_secret()
    sent_at = int(time.time())
    header = signature(secret, sent_at, BODY)
    assert verify(secret, header, BODY, now=sent_at + 299)
    assert not verify(secret, header, BODY, now=sent_at + 301)


def test_a_changed_timestamp_or_another_secret_is_refused():
    secret = new_secret()
    now = int(time.time())
    header = signature(secret, now, BODY)
    moved = header.replace(f"t={now}", f"t={now + 1}")
    assert not verify(secret, moved, BODY, now=now)
    assert not verify(new_secret(), header, BODY, now=now)
    assert not verify(secret, "v1=abc", BODY, now=now)
