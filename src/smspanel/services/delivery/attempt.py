"""One delivery attempt: ask the gateway, then decide sent, retry later, or failed."""

from __future__ import annotations

import time

from smspanel.services import telemetry
from smspanel.services.delivery.claims import ClaimedRecipient
from smspanel.services.delivery.gateway import GatewayClient, GatewayTransportError
from smspanel.services.delivery.outcomes import DeliveryOutcome
from smspanel.services.delivery.retry_policy import retry_delay


async def attempt_delivery(gateway: GatewayClient, claimed: ClaimedRecipient) -> DeliveryOutcome:
    """Send once; 2xx is sent, other HTTP answers fail for good, transport errors retry.
    Timed here, around whichever gateway client is in use (the histogram on /metrics)."""
    started = time.perf_counter()
    try:
        reply = await gateway.send(claimed.phone, claimed.content)
    except GatewayTransportError as error:
        telemetry.observe_gateway_request(time.perf_counter() - started, telemetry.TRANSPORT_ERROR)
        delay = retry_delay(claimed.attempts + 1, error)
        if delay is None:
            return DeliveryOutcome.gave_up(claimed, error)
        return DeliveryOutcome.retry_later(claimed, error, delay)
    except Exception as error:  # a bug or odd library error must not lose the recipient
        telemetry.observe_gateway_request(time.perf_counter() - started, telemetry.INTERNAL_ERROR)
        return DeliveryOutcome.internal_error(claimed, error)
    result = telemetry.ACCEPTED if reply.accepted else telemetry.REFUSED
    telemetry.observe_gateway_request(time.perf_counter() - started, result)
    if reply.accepted:
        return DeliveryOutcome.sent(claimed, reply)
    return DeliveryOutcome.refused(claimed, reply)
