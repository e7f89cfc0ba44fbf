"""The app as `run.py`, gunicorn and uWSGI serve it: configured, migrated, and delivering."""

from __future__ import annotations

import gc
import sys

from flask import Flask

from smspanel import ConfigError, create_app
from smspanel.config import default_instance_path, load_env_file
from smspanel.database import prepare_database
from smspanel.log_format import configure_logging
from smspanel.metrics_directory import clear_for_server_start, use_host_directory
from smspanel.supervisor import HostDispatcher, prefork_master_pid


def create_serving_app() -> Flask:
    """Build the app, bring its database up to date, and (unless `SMS_IN_APP_DISPATCHER` is
    false) run this host's one dispatcher process beside it."""
    configure_logging()
    load_env_file()
    try:
        # Before any metric exists in this process: its values go to the host's files, which
        # /metrics in every process reads (metrics_directory.py); its dispatcher inherits it.
        metrics = use_host_directory(default_instance_path())
        clear_for_server_start(metrics, prefork_master_pid())
        app = create_app()
    except ConfigError as exc:
        print(f"smspanel: configuration error: {exc}", file=sys.stderr, flush=True)
        sys.exit(3)  # gunicorn's "worker failed to boot": stop, don't respawn forever
    prepare_database(app)
    if app.config["SMS_IN_APP_DISPATCHER"]:
        app.extensions["smspanel.host_dispatcher"] = HostDispatcher(app).start()
    # What start-up built lives as long as the process: the collector need not walk it again
    # on every collection (docs/PERFORMANCE.md).
    gc.freeze()
    return app
