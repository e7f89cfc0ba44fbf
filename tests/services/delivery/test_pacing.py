"""SMS_RATE_PER_SEC holds across dispatchers that share a database."""

import threading
import time

from smspanel.models import db
from smspanel.services.delivery.pacing import SharedPacer


def test_two_pacers_on_one_database_share_the_rate(app):
    rate, per_thread, threads_per_pacer = 40.0, 10, 4
    with app.app_context():
        engine = db.engine
        pacers = [SharedPacer(engine, rate), SharedPacer(engine, rate)]  # two "processes"
    sent_at: list[float] = []
    lock = threading.Lock()

    def send_some(pacer):
        for _ in range(per_thread):
            delay = pacer.reserve()  # as the dispatcher does: take a send time, wait for it
            if delay > 0:
                time.sleep(delay)
            with lock:
                sent_at.append(time.monotonic())

    threads = [
        threading.Thread(target=send_some, args=(pacer,))
        for pacer in pacers
        for _ in range(threads_per_pacer)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    sent_at.sort()
    total = len(sent_at)
    assert total == 2 * threads_per_pacer * per_thread
    measured = (total - 1) / (sent_at[-1] - sent_at[0])
    assert measured <= rate * 1.1, f"{measured:.1f}/s against a limit of {rate}/s"
    assert measured >= rate * 0.7, f"{measured:.1f}/s: far below the {rate}/s allowed"
    # No burst: any one second holds about the rate. The slack (a tenth, plus one for the
    # window's edge) is for threads the OS wakes late on a busy machine, which then bunch.
    assert max(sum(1 for t in sent_at if s <= t < s + 1) for s in sent_at) <= rate * 1.1 + 1
