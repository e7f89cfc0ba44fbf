"""The README's commands deliver with nothing else started: one supervised dispatcher process
per host, restarted if it dies, stopped with the server, never left orphaned."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from loopback import App, MockGateway, wait_until

pytestmark = pytest.mark.e2e


def dispatchers(instance: Path) -> list[int]:
    """Pids of the dispatcher processes serving this instance folder, wherever they hang."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            environment = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        ours = f"SMSPANEL_INSTANCE_PATH={instance}".encode() in environment
        if state != "Z" and b"smspanel\0worker" in command and ours:
            found.append(int(entry.name))
    return found


def one_dispatcher(instance: Path) -> int:
    pids = wait_until(lambda: dispatchers(instance), 30, what="a dispatcher process")
    time.sleep(1.5)  # long enough for a second one to have appeared, were there two
    pids = dispatchers(instance)
    assert len(pids) == 1, pids
    return pids[0]


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def send_and_wait(app: App, mock: MockGateway, count: int, token: str) -> None:
    numbers = [f"6{n:07d}" for n in range(count)]
    before = mock.received()["total"]
    status, _ = app.api(
        "POST", "/api/sms/send-bulk", {"recipients": numbers, "content": "d"}, token
    )
    assert status == 202
    wait_until(lambda: mock.received()["total"] >= before + count, 30, what="delivery")


def test_gunicorn_alone_runs_one_dispatcher_that_survives_losing_its_worker(
    tmp_path, mock, fresh_database
):
    app = App.gunicorn(tmp_path, mock.url, DATABASE_URL=fresh_database)
    app.start(60)
    try:
        token = app.token()
        first = one_dispatcher(app.instance)
        send_and_wait(app, mock, 50, token)

        os.kill(first, signal.SIGKILL)  # the dispatcher dies: its supervisor starts another
        wait_until(lambda: dispatchers(app.instance) not in ([], [first]), 30, what="restart")
        second = one_dispatcher(app.instance)
        send_and_wait(app, mock, 50, token)

        supervisor = int(Path(f"/proc/{second}/stat").read_text().rsplit(")", 1)[1].split()[1])
        os.kill(supervisor, signal.SIGKILL)  # its gunicorn worker dies: another takes over
        wait_until(lambda: gone(second), 30, what="the orphaned dispatcher to stop")
        third = one_dispatcher(app.instance)
        assert third not in (first, second)
        send_and_wait(app, mock, 50, token)
    finally:
        assert app.stop() == 0
    assert dispatchers(app.instance) == []
    assert "Traceback" not in app.output, app.output


def test_a_sigkilled_gunicorn_leaves_no_dispatcher_behind(tmp_path, mock, fresh_database):
    app = App.gunicorn(tmp_path, mock.url, DATABASE_URL=fresh_database)
    app.start(60)
    try:
        pid = one_dispatcher(app.instance)
        os.kill(app.proc.pid, signal.SIGKILL)  # the master only; its workers linger a while
        killed_at = time.monotonic()
        wait_until(lambda: gone(pid), 10, 0.05, "the dispatcher to stop")
        assert time.monotonic() - killed_at < 5
        time.sleep(2)
        assert dispatchers(app.instance) == [], "an orphaned worker started another one"
    finally:
        app.kill()


def test_python_run_py_delivers_and_its_dispatcher_ends_with_it(tmp_path, mock, fresh_database):
    app = App(tmp_path, mock.url, DATABASE_URL=fresh_database).start()
    try:
        token = app.token()
        pid = one_dispatcher(app.instance)
        send_and_wait(app, mock, 20, token)
        os.kill(app.proc.pid, signal.SIGKILL)
        wait_until(lambda: gone(pid), 10, 0.05, "the dispatcher to stop")
    finally:
        app.kill()


def test_sigterm_finishes_what_is_on_the_wire(tmp_path, fresh_database):
    # 3 s answers: the SIGTERM reaches the dispatcher well before the first four come back,
    # even on a busy machine.
    slow = MockGateway(tmp_path, "--latency-ms", "3000").start()
    settings = {"DATABASE_URL": fresh_database, "SMS_WORKER_CONCURRENCY": "4"}
    app = App.gunicorn(tmp_path, slow.url, **settings).start(60)
    restarted = App(tmp_path, slow.url, **{**settings, "SMS_WORKER_CONCURRENCY": "40"})
    try:
        token = app.token()
        one_dispatcher(app.instance)
        wait_until(lambda: " running" in app.output, 30, what="the dispatcher to run")
        numbers = [f"7{n:07d}" for n in range(40)]
        body = {"recipients": numbers, "content": "w"}
        assert app.api("POST", "/api/sms/send-bulk", body, token)[0] == 202
        # Four requests on the wire, each answered after 3 s.
        wait_until(lambda: slow.received()["arrived"] >= 4, 10, 0.05, "four on the wire")
        os.kill(app.proc.pid, signal.SIGTERM)
        assert app.proc.wait(40) == 0
        assert dispatchers(app.instance) == []
        assert "stopping after in-flight sends" in app.output
        assert "stopped after 4 results" in app.output, app.output
        assert slow.received()["total"] == 4

        restarted.start()  # the 36 handed back go out after a restart, none of them twice
        wait_until(lambda: slow.received()["total"] >= 40, 60, what="the rest to be sent")
        time.sleep(0.5)
        assert set(slow.received()["by_number"].values()) == {1}
        assert len(slow.received()["by_number"]) == 40
    finally:
        app.kill()
        restarted.stop()
        slow.stop()
