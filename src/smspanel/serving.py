"""Running smspanel: the WSGI app with its in-process dispatcher, and the dedicated worker."""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import threading
from typing import Any

from flask import Flask

from smspanel import ConfigError, create_app
from smspanel.database import prepare_database
from smspanel.services.dispatcher import Dispatcher

log = logging.getLogger(__name__)
SHUTDOWN_GRACE_SECONDS = 25.0


def configure_logging() -> None:
    """Log to stderr one line per record, so typed input cannot forge lines; werkzeug's request
    log propagates here too, as it adds its own handler only when none exists yet."""
    from smspanel.log_format import PoolErrorsInOneLine, SingleLineFormatter

    if not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(SingleLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(PoolErrorsInOneLine())
        logging.basicConfig(level=logging.INFO, handlers=[handler])


def create_serving_app() -> Flask:
    """The app as `run.py`, gunicorn and uwsgi serve it: migrated, bootstrapped, delivering."""
    configure_logging()
    try:
        app = create_app()
    except ConfigError as exc:
        print(f"smspanel: configuration error: {exc}", file=sys.stderr, flush=True)
        sys.exit(3)  # gunicorn's "worker failed to boot": stop, don't respawn forever
    prepare_database(app)
    if app.config["SMS_IN_APP_DISPATCHER"]:
        InAppDispatcher(app).start()
    return app


class InAppDispatcher:
    """A dispatcher thread inside each serving process, started after any fork."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.dispatcher: Dispatcher | None = None
        self.thread: threading.Thread | None = None
        self.pid = 0

    def start(self) -> None:
        self.pid = os.getpid()
        self.dispatcher = Dispatcher(self.app)
        self.thread = threading.Thread(
            target=self.dispatcher.run, name="sms-dispatcher", daemon=True
        )
        self.thread.start()
        log.info("dispatcher %s started in process %s", self.dispatcher.worker_id, self.pid)
        if not getattr(self, "_hooks", False):
            self._hooks = True
            atexit.register(self.stop)
            # With `gunicorn --preload` the app is built before the fork: the child needs its own.
            os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        if os.getpid() != self.pid:
            self.start()

    def stop(self) -> None:
        if self.dispatcher is None or self.thread is None or os.getpid() != self.pid:
            return
        self.dispatcher.stop()
        self.thread.join(SHUTDOWN_GRACE_SECONDS)


def run_worker(app: Flask, **overrides: Any) -> int:
    """Run one dedicated dispatcher until SIGTERM or SIGINT; return the number delivered."""
    configure_logging()
    prepare_database(app)
    dispatcher = Dispatcher(app, **overrides)

    def request_stop(signum: int, frame: object) -> None:
        log.info("signal %s: stopping after in-flight sends", signum)
        dispatcher.stop()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    log.info("dispatcher %s running", dispatcher.worker_id)
    dispatcher.run()
    log.info("dispatcher %s stopped after %d results", dispatcher.worker_id, dispatcher.delivered)
    return dispatcher.delivered
