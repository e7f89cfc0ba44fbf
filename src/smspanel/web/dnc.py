"""The do-not-call register page (UEMO s.11): the copy in use, its age, and a new import.

A register of 2,000,000 numbers is about 20 MB and takes tens of seconds to load, longer
than a request should take (gunicorn's default timeout is 30 s), and the load's sorting and
batching would hold this process's GIL for seconds at a time, stalling every request it
serves. So the request only reads and checks the file (a malformed line is named at once,
nothing changes), makes the new copy `loading`, writes its numbers to a file in the instance
folder and starts `flask --app smspanel load-dnc-import` (cli.py) as a process of its own,
at a lower CPU priority, to load them and make the copy active. The page shows the import's
progress from the database, so any serving process can show it. A loader that dies mid-way
leaves the copy `loading`; the next import marks it failed once it is an hour old, and the
copy in use stays active throughout.
"""

from __future__ import annotations

import json
import logging
import subprocess
import threading
from pathlib import Path

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.exceptions import RequestEntityTooLarge

from smspanel.models import db
from smspanel.services import audit
from smspanel.services.dnc import (
    STALE_AFTER_WORKING_DAYS,
    ImportBusy,
    RegisterFileRefused,
    active_dnc_summary,
    fail_import,
    import_in_progress,
    last_failed_import,
    read_register_file,
    start_import,
)
from smspanel.services.uploads import display_filename, file_size
from smspanel.subcommands import DNC_LOADER_ACTOR, flask_command
from smspanel.web.access import admin_required, register_error_pages
from smspanel.web.file_parts import accepts_files, check_file_parts
from smspanel.web.forms import FormProblems
from smspanel.web.uploads import DRAIN_TIMES_THE_LIMIT, FORM_ALLOWANCE, check_csrf, drain_body

bp = Blueprint("dnc", __name__, url_prefix="/admin/dnc")
register_error_pages(bp)
log = logging.getLogger(__name__)

LOADERS = "smspanel.dnc_loaders"  # app.extensions key: import id -> the loader's Popen


def dnc_page(status: int = 200, errors: list[str] | None = None, problems=()):
    max_bytes = current_app.config["DNC_UPLOAD_MAX_BYTES"]
    loading = import_in_progress(db.session)
    return (
        render_template(
            "admin/dnc.html",
            summary=active_dnc_summary(db.session),
            loading=loading,
            failed=None if loading else last_failed_import(db.session),
            errors=errors or [],
            form_problems=FormProblems.of_errors(
                {"file": errors or []},
                {"file": _("Register file")},
                _("Nothing was replaced: the copy in use stays active."),
            ),
            problems=list(problems),
            max_size=file_size(max_bytes),
            stale_after=STALE_AFTER_WORKING_DAYS,
        ),
        status,
    )


def numbers_file(app: Flask, import_id: int) -> Path:
    folder = Path(app.instance_path) / "dnc-imports"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / f"import-{import_id}.txt"


def start_loader(app: Flask, import_id: int, numbers: list[str]) -> subprocess.Popen[bytes]:
    """Write the checked numbers beside the instance's database and load them from a
    process of their own (which deletes the file when done)."""
    path = numbers_file(app, import_id)
    path.write_text("\n".join(numbers) + "\n")
    actor = audit.current_actor()
    command, environment = flask_command(
        "load-dnc-import",
        str(import_id),
        str(path),
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        SMSPANEL_INSTANCE_PATH=app.instance_path,
        **{DNC_LOADER_ACTOR: json.dumps([actor.user_id, actor.username, actor.ip_address])},
    )
    try:
        loader = subprocess.Popen(
            command, env=environment, stdin=subprocess.DEVNULL, start_new_session=True
        )
    except OSError:
        path.unlink(missing_ok=True)
        raise
    app.extensions.setdefault(LOADERS, {})[import_id] = loader
    # Reaped when it ends, so a long-lived server leaves no zombie behind.
    threading.Thread(target=loader.wait, name=f"dnc-loader-{import_id}", daemon=True).start()
    return loader


@bp.get("")
@admin_required
def index():
    return dnc_page()


@bp.post("")
@accepts_files("file")
@admin_required
def upload():
    """Field `file`, up to DNC_UPLOAD_MAX_BYTES: this view raises the request's limit and
    checks the CSRF token itself (web/__init__.py exempts it from the app-wide check)."""
    max_bytes = current_app.config["DNC_UPLOAD_MAX_BYTES"]
    request.max_content_length = max_bytes + FORM_ALLOWANCE
    try:
        request.files  # noqa: B018  (reads the body, under the limit just set)
    except RequestEntityTooLarge:
        drain_body(DRAIN_TIMES_THE_LIMIT * max_bytes)
        message = _(
            "the file is larger than %(size)s (the setting DNC_UPLOAD_MAX_BYTES)",
            size=file_size(max_bytes),
        )
        return dnc_page(413, [message])
    check_csrf()
    check_file_parts()
    file = request.files.get("file")
    if file is None or not file.filename:
        return dnc_page(422, [_("choose the register file to import")])
    filename = display_filename(file.filename)
    try:
        register = read_register_file(file.read())
        import_id = start_import(db.session, filename)
    except RegisterFileRefused as exc:
        return dnc_page(422, [exc.summary], exc.problems)
    except ImportBusy as exc:
        return dnc_page(409, [str(exc)])
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        start_loader(app, import_id, register.numbers)
    except OSError as exc:
        log.exception("could not start the do-not-call register loader")
        fail_import(db.session, import_id, f"the loader did not start: {exc}")
        return dnc_page(500, [_("the import could not be started; the server log says why")])
    distinct = register.distinct_count
    flash(
        ngettext(
            "%(file)s was read: %(count)s number is loading. The copy in use stays active "
            "until the new one is ready.",
            "%(file)s was read: %(count)s numbers are loading. The copy in use stays active "
            "until the new one is ready.",
            distinct,
            count=f"{distinct:,}",
            file=filename,
        ),
        "success",
    )
    return redirect(url_for("dnc.index"))
