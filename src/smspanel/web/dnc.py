"""The do-not-call register page (UEMO s.11): the copy in use, its age, and a new import.

A register of 2,000,000 numbers is about 20 MB and takes tens of seconds to load, longer
than a request should (gunicorn's default timeout is 30 s). So the request only reads and
checks the file (a malformed line is named at once, nothing changes), makes the new copy
`loading` and hands its numbers to a thread of this process, which loads them and makes
the copy active; the page shows the import's progress from the database, so any serving
process can show it. A process that ends mid-load leaves the copy `loading`; the next
import marks it failed once it is an hour old, and the copy in use stays active throughout.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading

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
    import_in_progress,
    last_failed_import,
    load_import,
    read_register_file,
    start_import,
)
from smspanel.services.uploads import display_filename, file_size
from smspanel.web.access import admin_required, register_error_pages
from smspanel.web.uploads import DRAIN_TIMES_THE_LIMIT, FORM_ALLOWANCE, check_csrf, drain_body

bp = Blueprint("dnc", __name__, url_prefix="/admin/dnc")
register_error_pages(bp)
log = logging.getLogger(__name__)

IMPORT_THREADS = "smspanel.dnc_import_threads"  # app.extensions key: import id -> thread
REFRESH_SECONDS = 3  # the page reloads itself this often while an import is loading
LOADER_NICENESS = 10


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
            problems=list(problems),
            max_size=file_size(max_bytes),
            stale_after=STALE_AFTER_WORKING_DAYS,
            refresh_seconds=REFRESH_SECONDS if loading else None,
        ),
        status,
    )


def lower_this_threads_priority(niceness: int = LOADER_NICENESS) -> None:
    """Linux schedules each thread on its own, so the loader can give way to the requests
    of every process here (this one's other threads too, between GIL switches)."""
    with contextlib.suppress(AttributeError, OSError):  # elsewhere: the process's priority
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)


def load_in_background(app: Flask, import_id: int, numbers: list[str]) -> threading.Thread:
    """Load the copy from a thread of this process, as the admin who uploaded it."""
    actor = audit.current_actor()

    def work() -> None:
        lower_this_threads_priority()
        with app.app_context(), audit.acting_as(actor):
            try:
                result = load_import(db.session, import_id, numbers)
            except Exception:
                log.exception("the do-not-call register import %s failed", import_id)
            else:
                log.info(
                    "do-not-call register import %s active: %s numbers in %.1f s",
                    import_id,
                    result.number_count,
                    result.seconds,
                )
            finally:
                db.session.remove()

    thread = threading.Thread(target=work, name=f"dnc-import-{import_id}", daemon=True)
    app.extensions.setdefault(IMPORT_THREADS, {})[import_id] = thread
    thread.start()
    return thread


@bp.get("")
@admin_required
def index():
    return dnc_page()


@bp.post("")
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
    load_in_background(current_app._get_current_object(), import_id, register.numbers)  # type: ignore[attr-defined]
    flash(
        ngettext(
            "%(file)s was read: %(count)s number is loading. The copy in use stays active "
            "until the new one is ready.",
            "%(file)s was read: %(count)s numbers are loading. The copy in use stays active "
            "until the new one is ready.",
            len(register.numbers),
            count=f"{len(register.numbers):,}",
            file=filename,
        ),
        "success",
    )
    return redirect(url_for("dnc.index"))
