"""Running a `flask --app smspanel` command as a child process of a serving process."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def flask_command(*arguments: str, **settings: str) -> tuple[list[str], dict[str, str]]:
    """The argv and environment of `python -m flask --app smspanel <arguments>`: this
    interpreter, this package importable (a checkout run without `pip install`), the
    parent's environment with `settings` on top."""
    package_parent = str(Path(__file__).resolve().parents[1])
    search_path = os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))
    environment = {**os.environ, "PYTHONPATH": search_path, **settings}
    return [python_executable(), "-m", "flask", "--app", "smspanel", *arguments], environment


def python_executable() -> str:
    """This process's interpreter; under uWSGI `sys.executable` is uWSGI itself."""
    if Path(sys.executable).name.startswith("python"):
        return sys.executable
    candidate = Path(sys.prefix) / "bin" / "python3"
    if candidate.exists():
        return str(candidate)
    return shutil.which("python3") or sys.executable
