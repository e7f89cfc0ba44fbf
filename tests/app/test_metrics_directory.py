"""The host's metrics folder: cleared of dead processes' files once per server start."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from smspanel.config import ConfigError
from smspanel.metrics_directory import VARIABLE, clear_for_server_start, use_host_directory


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def folder(tmp_path):
    folder = tmp_path / "metrics"
    folder.mkdir()
    return folder


def files(folder, *pids: int) -> list[str]:
    names = []
    for pid in pids:
        for kind in ("counter", "histogram"):
            (folder / f"{kind}_{pid}.db").write_bytes(b"")
            names.append(f"{kind}_{pid}.db")
    return names


def left(folder) -> set[str]:
    return {path.name for path in folder.glob("*.db")}


def test_a_server_start_removes_the_files_of_processes_gone_and_keeps_the_live(folder):
    gone, alive = files(folder, dead_pid()), files(folder, os.getpid())
    assert clear_for_server_start(folder, os.getpid())
    assert left(folder) == set(alive)
    assert not set(gone) & left(folder)


def test_later_workers_of_the_same_server_clear_nothing(folder):
    """A worker gunicorn starts in place of one recycled: the old one's counts still count."""
    assert clear_for_server_start(folder, os.getpid())
    recycled = files(folder, dead_pid())
    assert not clear_for_server_start(folder, os.getpid())
    assert left(folder) == set(recycled)


def test_the_next_server_start_clears_again(folder):
    assert clear_for_server_start(folder, os.getpid())
    files(folder, dead_pid())
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as other:
        try:
            assert clear_for_server_start(folder, other.pid)  # another master: a new start
        finally:
            other.kill()
    assert left(folder) == set()


def test_a_server_of_one_process_clears_at_every_start(folder):
    files(folder, dead_pid())
    assert clear_for_server_start(folder, None)
    files(folder, dead_pid())
    assert clear_for_server_start(folder, None)
    assert left(folder) == set()


def test_the_folder_is_the_instance_one_unless_the_variable_names_another(tmp_path, monkeypatch):
    monkeypatch.delenv(VARIABLE, raising=False)
    assert use_host_directory(tmp_path / "instance") == tmp_path / "instance" / "metrics"
    assert os.environ[VARIABLE] == str(tmp_path / "instance" / "metrics")  # for children
    monkeypatch.setenv(VARIABLE, str(tmp_path / "elsewhere"))
    assert use_host_directory(tmp_path / "instance") == tmp_path / "elsewhere"
    assert (tmp_path / "elsewhere").is_dir()


def test_a_folder_that_cannot_be_made_is_a_configuration_error(tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv(VARIABLE, str(tmp_path / "a-file" / "metrics"))
    with pytest.raises(ConfigError, match=VARIABLE):
        use_host_directory(tmp_path)
