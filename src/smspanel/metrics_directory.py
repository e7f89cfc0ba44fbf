"""Where a host's processes keep the values `/metrics` adds up.

prometheus_client's multiprocess mode: each process writes its counters and histograms to
files of its own (`counter_<pid>.db`, `histogram_<pid>.db`) in `PROMETHEUS_MULTIPROC_DIR`,
by default `instance/metrics`, and a scrape in any process reads them all. A process must
have the variable set before it first imports prometheus_client (`services/telemetry.py`
imports it on first use): the serving processes set it before they build the app, their
dispatcher child inherits it, and a dedicated worker sets it before it starts delivering.

The first serving process of a server start removes the files of processes no longer
running, so the counters start from zero with the server, as Prometheus expects after a
restart. The files of a worker recycled later stay until the next start (its counts must
not vanish from the totals), as do those of a live process: a dispatcher still finishing,
a dedicated worker on this host. No gauge is kept in files (the gauges are read from the
database at each scrape), so nothing needs `mark_process_dead` when a worker exits.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sys
from pathlib import Path

from smspanel.config import ConfigError

log = logging.getLogger(__name__)

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
SERVER_MARK = "server"  # which server start last cleared the folder


def use_host_directory(instance_path: Path) -> Path:
    """This process records into the host's folder: `PROMETHEUS_MULTIPROC_DIR` if set,
    else `instance/metrics`, which the variable then names for this process and its children."""
    configured = os.environ.get(VARIABLE, "").strip()
    directory = Path(configured) if configured else Path(instance_path) / "metrics"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{VARIABLE}: cannot make {directory}: {exc.strerror}") from None
    os.environ[VARIABLE] = str(directory)
    values = sys.modules.get("prometheus_client.values")
    if values is not None and not getattr(values.ValueClass, "_multiprocess", False):
        log.warning(
            "prometheus_client was imported before %s was set: this process's metrics "
            "stay in it, and /metrics shows only those of the process that answers",
            VARIABLE,
        )
    return directory


def clear_for_server_start(directory: Path, server_pid: int | None) -> bool:
    """Remove the files of processes no longer running, once per server start: every time
    for a server of one process (`server_pid` None: this process is the server), and for
    gunicorn's or uWSGI's workers only in the first to come of their master's start."""
    with open(directory / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        mark = directory / SERVER_MARK
        start = None if server_pid is None else process_start(server_pid)
        if start is not None:
            try:
                if mark.read_text() == start:
                    return False
            except OSError:
                pass
        for path in directory.glob("*.db"):
            pid = writer_pid(path)
            if pid is None or not running(pid):
                path.unlink(missing_ok=True)
        if start is not None:
            mark.write_text(start)
        return True


def writer_pid(path: Path) -> int | None:
    """The process a values file belongs to: `<kind>_<pid>.db`, `gauge_<mode>_<pid>.db`."""
    last = path.stem.rsplit("_", 1)[-1]
    return int(last) if last.isdigit() else None


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def process_start(pid: int) -> str:
    """A process's pid and start time, which no later process shares (a pid alone may be
    used again); the pid alone where /proc is missing."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return str(pid)
    fields = stat.rsplit(")", 1)[1].split()
    return f"{pid} {fields[19]}"  # field 22, starttime, counting from the state (field 3)
