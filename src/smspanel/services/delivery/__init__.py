"""Delivery: the path of one recipient from the queue to the gateway and back.

claims        take due recipients under a lease, hand back what was not started
queue_order   the order claims take them in: the urgent lane, messages taking turns
pacing        `SMS_RATE_PER_SEC`, one schedule shared by every dispatcher through the database
gateway       the 1010/HKT HTTP gateway behind a small interface, and the simulated one
attempt       one request to the gateway, and the outcome it decides
retry_policy  which failures are retried, how often, after how long
outcomes      results recorded for rows still owned; counts, status and dead letters follow
dispatcher    the loop tying them together: claim, send concurrently, record

Work reaches it from `services/sending.py` and `services/dead_letter.py` (retry), which ring
`services/doorbell.py` after their commit so an idle dispatcher claims at once.
"""
