"""One dispatcher per host, in its own process, supervised by one of the serving processes.

Every serving process (`python run.py`, each gunicorn or uWSGI worker) starts a
`HostDispatcher`. They compete for an exclusive lock on `instance/dispatcher.lock`: the
holder runs `flask --app smspanel worker` as its child, restarts it if it dies and stops it
when the server stops; the others stand by and take over if the holder goes away (a gunicorn
worker recycled or killed). The child inherits the lock, so a replacement starts only once
the old dispatcher has finished the requests it had on the wire.

Delivery in its own process, rather than a thread in every web worker, keeps the web
requests' GIL to themselves and leaves one dispatcher, not one per worker, competing for
the database's writers.
"""

from __future__ import annotations

import atexit
import fcntl
import logging
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from flask import Flask

from smspanel.subcommands import flask_command
from smspanel.worker import LIFELINE_ENV, SHUTDOWN_DEADLINE_SECONDS

log = logging.getLogger(__name__)

ELECTION_SECONDS = 1.0  # how soon a standing-by process notices the holder has gone
WATCH_SECONDS = 0.5  # how soon the holder notices its child or its server has gone
RESTART_BACKOFF_MAX_SECONDS = 30.0
STABLE_RUN_SECONDS = 60.0  # a child that ran this long is restarted at once when it dies


class HostDispatcher:
    """Runs this host's dispatcher process if this serving process holds the host's lock."""

    def __init__(self, app: Flask) -> None:
        self.lock_path = Path(app.instance_path) / "dispatcher.lock"
        self.command, self.environment = flask_command(
            "worker", SMSPANEL_INSTANCE_PATH=app.instance_path
        )
        self.pid = os.getpid()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sms-supervisor", daemon=True)

    def start(self) -> HostDispatcher:
        self._thread.start()
        atexit.register(self.stop)
        return self

    def stop(self) -> None:
        """Stop the child, letting it finish what is on the wire (only in the process that
        started this: a process forked from it inherits the atexit hook, not the child)."""
        if os.getpid() != self.pid or self._stopping.is_set():
            return
        self._stopping.set()
        self._thread.join(SHUTDOWN_DEADLINE_SECONDS + 5)

    def _run(self) -> None:
        server = prefork_master_pid()
        while not self._stopping.is_set():
            if server is not None and os.getppid() != server:
                log.warning("server process %s is gone; no dispatcher here", server)
                return
            lock_fd = take_lock(self.lock_path)
            if lock_fd is None:
                self._stopping.wait(ELECTION_SECONDS)
                continue
            try:
                self._supervise(lock_fd, server)
            except Exception:
                log.exception("dispatcher supervision failed; retrying")
                self._stopping.wait(ELECTION_SECONDS)
            finally:
                os.close(lock_fd)

    def _supervise(self, lock_fd: int, server: int | None) -> None:
        failures = 0
        while not self._stopping.is_set():
            started = time.monotonic()
            read_end, write_end = os.pipe()
            try:
                child = subprocess.Popen(
                    self.command,
                    env={**self.environment, LIFELINE_ENV: str(read_end)},
                    pass_fds=(read_end, lock_fd),
                )
            except BaseException:
                os.close(write_end)
                raise
            finally:
                os.close(read_end)
            log.info("dispatcher process %s started by process %s", child.pid, self.pid)
            try:
                code = self._watch(child, server)
                if code is None:  # stopping, or the server is gone: end the child gracefully
                    end_child(child)
                    return
            finally:
                os.close(write_end)
            failures = 0 if time.monotonic() - started > STABLE_RUN_SECONDS else failures + 1
            delay = min(RESTART_BACKOFF_MAX_SECONDS, 2.0 ** (failures - 1)) if failures else 0.0
            log.warning(
                "dispatcher process %s exited with code %s; restarting in %g s",
                child.pid,
                code,
                delay,
            )
            self._stopping.wait(delay or WATCH_SECONDS)

    def _watch(self, child: subprocess.Popen[bytes], server: int | None) -> int | None:
        """The child's exit code once it exits; None when it should be stopped instead.

        A look every WATCH_SECONDS, not `child.wait(timeout)`, which polls every 50 ms: this
        thread lives in a web worker and should wake it as seldom as it can.
        """
        while True:
            if self._stopping.wait(WATCH_SECONDS):
                return None
            code = child.poll()
            if code is not None:
                return code
            if server is not None and os.getppid() != server:
                return None


def end_child(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM: the dispatcher stops claiming, finishes what is on the wire, then exits."""
    if child.poll() is not None:
        return
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(SHUTDOWN_DEADLINE_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait(5)


def take_lock(path: Path) -> int | None:
    """An open descriptor holding the exclusive lock on `path`, or None if another holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def prefork_master_pid() -> int | None:
    """The gunicorn or uWSGI master this worker was forked from: when it is gone (SIGKILL),
    the worker lingers until its own timeout, but the dispatcher must stop at once."""
    parent = os.getppid()
    try:
        command = Path(f"/proc/{parent}/cmdline").read_bytes()
    except OSError:
        return None
    return parent if b"gunicorn" in command or b"uwsgi" in command else None
