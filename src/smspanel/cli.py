"""Command-line tools: `flask --app smspanel <command>`."""

from __future__ import annotations

import getpass
import json
import os
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from smspanel.models import User, db, utcnow
from smspanel.services.accounts import UserError, create_user, find_user, reset_password
from smspanel.services.audit import Actor, set_actor
from smspanel.services.dnc import (
    ImportBusy,
    RegisterFileRefused,
    fail_import,
    load_import,
    read_register_file,
    start_import,
)
from smspanel.services.tokens import issue_token
from smspanel.services.two_factor import TwoFactorError, reset
from smspanel.services.uploads import purge_expired_uploads
from smspanel.subcommands import DNC_LOADER_ACTOR
from smspanel.worker import run_worker


def act_from_command_line() -> None:
    """Audit records name the operating-system account that ran the command."""
    set_actor(Actor(username=f"cli:{getpass.getuser()}"[:64], channel="cli"))


def named_user(username: str) -> User:
    """The user a command names, or the command stops saying there is none."""
    user = find_user(db.session, username)
    if user is None:
        raise click.ClickException(f"no user named {username!r}")
    return user


@click.command("worker")
@with_appcontext
def worker_command() -> None:
    """Run a dedicated delivery dispatcher until SIGTERM/SIGINT."""
    run_worker(current_app._get_current_object())  # type: ignore[attr-defined]


@click.command("create-user")
@with_appcontext
@click.argument("username")
@click.option("--admin", is_flag=True, help="Give the user admin rights.")
@click.password_option(help="Prompted for when not given.")
def create_user_command(username: str, admin: bool, password: str) -> None:
    """Create a user."""
    act_from_command_line()
    try:
        user = create_user(db.session, username, password, is_admin=admin)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {'admin' if user.is_admin else 'user'} {user.username} (id {user.id})")


@click.command("reset-password")
@with_appcontext
@click.argument("username")
@click.password_option(help="Prompted for when not given.")
def reset_password_command(username: str, password: str) -> None:
    """Set a new password for a user, and re-enable the account (the way back in)."""
    act_from_command_line()
    user = named_user(username)
    try:
        revoked = reset_password(db.session, user, password)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"password for {user.username} changed; the account is active; "
        f"{revoked} API token(s) revoked"
    )


@click.command("reset-2fa")
@with_appcontext
@click.argument("username")
def reset_two_factor_command(username: str) -> None:
    """Turn off a user's two-factor sign-in (a lost phone and no recovery code left)."""
    act_from_command_line()
    user = named_user(username)
    try:
        reset(db.session, None, user)
    except TwoFactorError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"two-factor sign-in for {user.username} is off; they can set it up again")


@click.command("create-token")
@with_appcontext
@click.argument("username")
@click.option("--name", default="cli", help="A label to recognise the token by.")
@click.option(
    "--expires-days", type=click.IntRange(min=1), default=None, help="Stop working after N days."
)
def create_token_command(username: str, name: str, expires_days: int | None) -> None:
    """Issue an API token for a user and print it (it is shown only this once)."""
    act_from_command_line()
    user = named_user(username)
    expires_at = utcnow() + timedelta(days=expires_days) if expires_days else None
    click.echo(issue_token(db.session, user, name=name, expires_at=expires_at))


@click.command("backup")
@click.argument("destination", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup_command(destination: Path) -> None:
    """Copy the SQLite database to DESTINATION safely while the app is running."""
    from smspanel.database import backup_sqlite

    try:
        size = backup_sqlite(destination)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backed up to {destination} ({size} bytes)")


@click.command("purge-uploads")
@with_appcontext
def purge_uploads_command() -> None:
    """Delete files of recipients uploaded over a day ago and never sent (each new upload
    does this too)."""
    count = purge_expired_uploads(db.session, utcnow())
    click.echo(f"deleted {count} expired upload{'s' if count != 1 else ''}")


@click.command("import-dnc")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--nice",
    "niceness",
    type=click.IntRange(0, 19),
    default=None,
    help="Lower this command's CPU priority by N so web requests and sends go first "
    "[default: 10 on PostgreSQL and MariaDB, 0 on SQLite].",
)
@with_appcontext
def import_dnc_command(file: Path, niceness: int | None) -> None:
    """Import OFCA's do-not-call register from FILE (one number per line, or a CSV with the
    number in the first column). The copy in use stays active until the new one is loaded."""
    act_from_command_line()
    give_way_to_requests(niceness)
    started = time.perf_counter()
    try:
        register = read_register_file(file.read_bytes())
    except RegisterFileRefused as exc:
        raise click.ClickException(str(exc)) from None
    total = len(register.numbers)
    click.echo(f"{file.name}: {total:,} numbers read in {time.perf_counter() - started:.1f} s")
    try:
        import_id = start_import(db.session, file.name)
    except ImportBusy as exc:
        raise click.ClickException(str(exc)) from None
    try:
        result = load_import(db.session, import_id, register.numbers, progress_printer())
    except Exception as exc:
        raise click.ClickException(
            f"the import failed ({type(exc).__name__}: {exc}); the copy in use is unchanged"
        ) from None
    repeats = f", {result.repeats:,} repeated lines ignored" if result.repeats else ""
    click.echo(
        f"import {result.import_id} is the copy in use: {result.number_count:,} numbers"
        f"{repeats}; loaded and made active in {result.seconds:.1f} s, "
        f"{time.perf_counter() - started:.1f} s in all"
    )


LOADER_NICENESS = 10


def give_way_to_requests(niceness: int | None = None) -> None:
    """A lower CPU priority for a load, where it holds no lock a request needs: on the
    servers. On SQLite a batch holds the one write lock, and a loader slowed down while
    holding it keeps every send waiting (at nice 10 a send's p99 was worse, not better)."""
    if niceness is None:
        niceness = 0 if db.engine.dialect.name == "sqlite" else LOADER_NICENESS
    if niceness:
        os.nice(niceness)


def progress_printer() -> Callable[[int, int], None]:
    """Prints each tenth of a load to stderr."""
    shown = [0]

    def progress(loaded: int, of: int) -> None:
        if loaded * 10 // of > shown[0] * 10 // of or loaded == of:
            click.echo(f"  loaded {loaded:,} of {of:,}", err=True)
            shown[0] = loaded

    return progress


@click.command("load-dnc-import", hidden=True)
@click.argument("import_id", type=int)
@click.argument("numbers_file", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def load_dnc_import_command(import_id: int, numbers_file: Path) -> None:
    """The loader /admin/dnc starts for an upload it has checked: load NUMBERS_FILE into the
    `loading` copy IMPORT_ID, as the admin who uploaded it (DNC_LOADER_ACTOR), then delete
    the file."""
    named = os.environ.get(DNC_LOADER_ACTOR)
    if named:
        user_id, username, ip_address = json.loads(named)
        set_actor(Actor(user_id, username, "web", ip_address))
    else:
        act_from_command_line()
    give_way_to_requests()
    try:
        register = read_register_file(numbers_file.read_bytes())
    except (OSError, RegisterFileRefused) as exc:
        fail_import(db.session, import_id, f"the checked numbers could not be read: {exc}")
        raise click.ClickException(str(exc)) from None
    finally:
        numbers_file.unlink(missing_ok=True)
    try:
        result = load_import(db.session, import_id, register.numbers, progress_printer())
    except Exception as exc:
        raise click.ClickException(f"import {import_id} failed: {exc}") from None
    click.echo(
        f"import {import_id} is the copy in use: {result.number_count:,} numbers, "
        f"loaded and made active in {result.seconds:.1f} s"
    )


def init_app(app: Flask) -> None:
    for command in (
        backup_command,
        worker_command,
        create_user_command,
        reset_password_command,
        reset_two_factor_command,
        create_token_command,
        purge_uploads_command,
        import_dnc_command,
        load_dnc_import_command,
    ):
        app.cli.add_command(command)
