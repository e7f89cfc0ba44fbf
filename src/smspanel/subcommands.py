"""Running a `flask --app smspanel` command as a child process of a serving process."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

# The environment variable naming who started a `load-dnc-import` child: [id, name, address].
DNC_LOADER_ACTOR = "SMSPANEL_DNC_ACTOR"


def flask_command(*arguments: str, **settings: str) -> tuple[list[str], dict[str, str]]:
    """The argv and environment of `python -m flask --app smspanel <arguments>`: this
    interpreter, this package importable (a checkout run without `pip install`), the
    parent's environment with `settings` on top."""
    package_parent = str(Path(__file__).resolve().parents[1])
    search_path = os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))
    environment = {**os.environ, "PYTHONPATH": search_path, **settings}
    return [python_executable(), "-m", "flask", "--app", "smspanel", *arguments], environment


def python_executable() -> str:
    """This process's interpreter with its packages. Under uWSGI `sys.executable` is uWSGI,
    or the base interpreter without the virtual environment's packages."""
    in_venv = Path(sys.prefix) / "bin" / "python3"
    if sys.prefix != sys.base_prefix and in_venv.exists():
        return str(in_venv)
    if Path(sys.executable).name.startswith("python"):
        return sys.executable
    return shutil.which("python3") or sys.executable
