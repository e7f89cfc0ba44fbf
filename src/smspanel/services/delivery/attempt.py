"""One delivery attempt: ask the gateway, then decide sent, retry later, or failed."""

from __future__ import annotations

from smspanel.services.delivery.claims import ClaimedRecipient
from smspanel.services.delivery.gateway import GatewayClient, GatewayTransportError
from smspanel.services.delivery.outcomes import DeliveryOutcome
from smspanel.services.delivery.retry_policy import retry_delay


async def attempt_delivery(gateway: GatewayClient, claimed: ClaimedRecipient) -> DeliveryOutcome:
    """Send once; 2xx is sent, other HTTP answers fail for good, transport errors retry."""
    try:
        reply = await gateway.send(claimed.phone, claimed.content)
    except GatewayTransportError as error:
        delay = retry_delay(claimed.attempts + 1, error)
        if delay is None:
            return DeliveryOutcome.gave_up(claimed, error)
        return DeliveryOutcome.retry_later(claimed, error, delay)
    except Exception as error:  # a bug or odd library error must not lose the recipient
        return DeliveryOutcome.internal_error(claimed, error)
    if reply.accepted:
        return DeliveryOutcome.sent(claimed, reply)
    return DeliveryOutcome.refused(claimed, reply)
