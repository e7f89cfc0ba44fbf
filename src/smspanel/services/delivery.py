"""One delivery attempt: ask the gateway, then decide sent, retry later, or failed."""

from __future__ import annotations

from datetime import timedelta

from smspanel.models import RecipientStatus, utcnow
from smspanel.services.gateway import GatewayClient, GatewayTransportError, retry_delay
from smspanel.services.queue import ClaimedRecipient, DeliveryOutcome


async def attempt_delivery(gateway: GatewayClient, claimed: ClaimedRecipient) -> DeliveryOutcome:
    """Send once; 2xx is sent, other HTTP answers fail for good, transport errors retry."""
    attempt = claimed.attempts + 1
    try:
        reply = await gateway.send(claimed.phone, claimed.content)
    except GatewayTransportError as error:
        now = utcnow()
        maybe_duplicate = claimed.maybe_duplicate or error.maybe_delivered
        delay = retry_delay(attempt, error)
        detail = f"attempt {attempt}: {error}"
        if delay is None:
            return DeliveryOutcome(
                claimed.id,
                claimed.message_id,
                RecipientStatus.FAILED,
                attempt,
                now,
                error_kind=error.kind,
                error_message=f"gave up after {attempt} attempts; last {detail}"[:500],
                maybe_duplicate=maybe_duplicate,
            )
        return DeliveryOutcome(
            claimed.id,
            claimed.message_id,
            RecipientStatus.PENDING,
            attempt,
            now,
            retry_at=now + timedelta(seconds=delay),
            error_kind=error.kind,
            error_message=f"{detail}; retrying in {delay:g} s"[:500],
            maybe_duplicate=maybe_duplicate,
        )
    except Exception as error:  # a bug or odd library error must not lose the recipient
        now = utcnow()
        return DeliveryOutcome(
            claimed.id,
            claimed.message_id,
            RecipientStatus.FAILED,
            attempt,
            now,
            error_kind="internal",
            error_message=f"{type(error).__name__}: {error}"[:500],
            maybe_duplicate=claimed.maybe_duplicate,
        )
    now = utcnow()
    if reply.accepted:
        return DeliveryOutcome(
            claimed.id,
            claimed.message_id,
            RecipientStatus.SENT,
            attempt,
            now,
            gateway_status=reply.status_code,
            gateway_response=reply.body,
            maybe_duplicate=claimed.maybe_duplicate,
        )
    return DeliveryOutcome(
        claimed.id,
        claimed.message_id,
        RecipientStatus.FAILED,
        attempt,
        now,
        gateway_status=reply.status_code,
        gateway_response=reply.body,
        error_kind=f"http_{reply.status_code}",
        error_message=f"gateway answered HTTP {reply.status_code}: {reply.body}"[:500],
        maybe_duplicate=claimed.maybe_duplicate,
    )
