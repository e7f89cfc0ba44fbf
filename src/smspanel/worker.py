"""A delivery process: one dispatcher until SIGTERM, SIGINT, or the end of its server.

`flask --app smspanel worker` runs it on its own (the scale-out deployment); the serving
processes run it as their host's supervised dispatcher (`supervisor.py`), passing the read
end of a pipe as `SMSPANEL_LIFELINE_FD`. The pipe reads end-of-file when the process holding
its write end is gone, however it went (SIGKILL included), and the dispatcher then stops as
on SIGTERM: it finishes the requests on the wire and hands back what it had not started.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from flask import Flask

from smspanel.database import prepare_database
from smspanel.log_format import configure_logging
from smspanel.metrics_directory import use_host_directory
from smspanel.models import db
from smspanel.services.delivery.dispatcher import Dispatcher, DispatcherSettings
from smspanel.services.delivery.gateway import gateway_from_config

log = logging.getLogger(__name__)

LIFELINE_ENV = "SMSPANEL_LIFELINE_FD"
# After a stop is asked for, the requests on the wire finish within the gateway's timeouts;
# a process still running this long after has hung, and exits rather than linger orphaned.
SHUTDOWN_DEADLINE_SECONDS = 30.0


def run_worker(app: Flask) -> int:
    """Run one dispatcher until it is told to stop; return the number of results recorded."""
    configure_logging()
    # Before the first metric: the dispatcher's counts go to the host's files (a supervised
    # dispatcher inherits the variable; a dedicated worker finds the instance's folder).
    use_host_directory(Path(app.instance_path))
    prepare_database(app)
    with app.app_context():
        engine = db.engine
    dispatcher = Dispatcher(
        engine, DispatcherSettings.from_config(app.config), gateway_from_config(app.config)
    )
    stop_requested = threading.Event()

    def stop(reason: str) -> None:
        if stop_requested.is_set():
            return
        stop_requested.set()
        log.info("%s: stopping after in-flight sends", reason)
        dispatcher.stop()
        exit_if_hung = threading.Timer(SHUTDOWN_DEADLINE_SECONDS, _exit_hung, (dispatcher,))
        exit_if_hung.daemon = True
        exit_if_hung.start()

    signal.signal(signal.SIGTERM, lambda signum, frame: stop(f"signal {signum}"))
    signal.signal(signal.SIGINT, lambda signum, frame: stop(f"signal {signum}"))
    lifeline = os.environ.pop(LIFELINE_ENV, None)
    if lifeline:
        threading.Thread(
            target=_watch_lifeline,
            args=(int(lifeline), lambda: stop("the server that started this dispatcher is gone")),
            name="sms-lifeline",
            daemon=True,
        ).start()
    log.info("dispatcher %s running", dispatcher.worker_id)
    dispatcher.run()
    log.info("dispatcher %s stopped after %d results", dispatcher.worker_id, dispatcher.delivered)
    return dispatcher.delivered


def _watch_lifeline(fd: int, on_end: Callable[[], None]) -> None:
    """Block until the pipe's write end closes (its holder exited), then stop."""
    try:
        while os.read(fd, 64):
            pass
    except OSError:
        pass
    on_end()


def _exit_hung(dispatcher: Dispatcher) -> None:
    log.error(
        "dispatcher %s still running %.0f s after it was asked to stop; exiting",
        dispatcher.worker_id,
        SHUTDOWN_DEADLINE_SECONDS,
    )
    logging.shutdown()
    os._exit(1)
