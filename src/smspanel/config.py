"""Settings read from the environment (and an optional `.env`), checked loudly."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

PROJECT_ROOT = Path(__file__).resolve().parents[2]
WEAK_SECRETS = {
    "change-me",
    "changeme",
    "secret",
    "dev",
    "your-secure-key-at-least-32-chars",
    "<generate-strong-random-key>",
}


DEFAULT_UNSUBSCRIBE_TEXT = "如不想再收到此類訊息，請回覆「STOP」。To unsubscribe, reply STOP."


class ConfigError(RuntimeError):
    """A setting is missing or unusable; the message names it."""


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = env_str(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def env_list(name: str) -> list[str] | None:
    """A comma-separated list (blanks dropped), or None when unset."""
    raw = env_str(name)
    if raw is None:
        return None
    items = [item.strip() for item in raw.split(",") if item.strip()]
    return items or None


def env_float(name: str, default: float, minimum: float = 0.0) -> float:
    raw = env_str(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = env_str(name)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def default_instance_path() -> Path:
    """`instance/` under the project root, where the README says the database lives."""
    configured = env_str("SMSPANEL_INSTANCE_PATH")
    if configured:
        return Path(configured).resolve()
    if (PROJECT_ROOT / "pyproject.toml").exists():
        return PROJECT_ROOT / "instance"
    return Path.cwd() / "instance"


def resolve_database_url(url: str | None, instance_path: Path) -> str:
    """Anchor relative SQLite paths in the instance folder.

    Both spellings the README uses, `sqlite:///sms.db` and `sqlite:///instance/sms.db`,
    mean the same file: `instance/sms.db` under the project root.
    """
    if not url:
        return f"sqlite:///{instance_path / 'sms.db'}"
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////"):
        relative = url[len(prefix) :]
        if relative and relative != ":memory:" and not relative.startswith(":"):
            relative = relative.removeprefix("instance/")
            return f"{prefix}{instance_path / relative}"
    return url


def development_secret(instance_path: Path) -> str:
    """A secret generated once and kept in the instance folder, so sessions survive restarts.

    Several processes (gunicorn -w 4) may start at once: each writes a private temporary file
    and links it into place; the first link wins and everyone reads the winner's secret.
    """
    path = instance_path / "secret_key"
    if not path.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=instance_path, prefix=".secret_key.")
        try:
            os.write(fd, secrets.token_urlsafe(48).encode())  # mkstemp makes it 0600
            os.close(fd)
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    return path.read_text().strip()


def load_env_file() -> None:
    """Read `.env` from the working directory or the project root; set variables win."""
    for candidate in (Path.cwd() / ".env", PROJECT_ROOT / ".env"):
        if candidate.is_file():
            load_dotenv(candidate)
            return


def load_settings(instance_path: Path) -> dict[str, Any]:
    """Read every setting from the environment; raise ConfigError naming the first bad one."""
    env = (env_str("FLASK_ENV", "development") or "development").lower()
    if env not in {"development", "production", "testing"}:
        raise ConfigError(f"FLASK_ENV must be development or production, got {env!r}")
    production = env == "production"

    secret_key = env_str("SECRET_KEY")
    if production:
        if secret_key is None:
            raise ConfigError("SECRET_KEY is not set (production needs at least 32 characters)")
        if len(secret_key) < 32:
            raise ConfigError(
                f"SECRET_KEY is too short ({len(secret_key)} characters; at least 32 required)"
            )
        if secret_key.lower() in WEAK_SECRETS or len(set(secret_key)) < 8:
            raise ConfigError("SECRET_KEY is a placeholder or weak value; generate a random one")
        for name in ("SMS_BASE_URL", "SMS_APPLICATION_ID", "SMS_SENDER_NUMBER"):
            if env_str(name) is None:
                raise ConfigError(f"{name} is not set (production needs the real gateway settings)")
    elif secret_key is not None and len(secret_key) < 32:
        raise ConfigError(
            f"SECRET_KEY is too short ({len(secret_key)} characters; at least 32 required)"
        )

    database_url = resolve_database_url(env_str("DATABASE_URL"), instance_path)
    admin_password = env_str("ADMIN_PASSWORD")  # its strength is checked by create_app
    return {
        "ENV_NAME": env,
        "PRODUCTION": production,
        "SECRET_KEY": secret_key,
        "ADMIN_PASSWORD": admin_password,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_POOL_SIZE": env_int("SQLALCHEMY_POOL_SIZE", 10, minimum=1),
        "SQLALCHEMY_POOL_MAX_OVERFLOW": env_int("SQLALCHEMY_POOL_MAX_OVERFLOW", 20),
        "SQLALCHEMY_POOL_RECYCLE": env_int("SQLALCHEMY_POOL_RECYCLE", 3600, minimum=1),
        "SQLALCHEMY_POOL_PRE_PING": env_bool("SQLALCHEMY_POOL_PRE_PING", True),
        "SMS_BASE_URL": env_str("SMS_BASE_URL"),
        "SMS_APPLICATION_ID": env_str("SMS_APPLICATION_ID", "") or "",
        "SMS_SENDER_NUMBER": env_str("SMS_SENDER_NUMBER", "") or "",
        "SMS_CONNECT_TIMEOUT": env_float("SMS_CONNECT_TIMEOUT", 5.0, minimum=0.1),
        "SMS_READ_TIMEOUT": env_float("SMS_READ_TIMEOUT", 15.0, minimum=0.1),
        "SMS_RATE_PER_SEC": env_float("SMS_RATE_PER_SEC", 0.0),
        "SMS_WORKER_CONCURRENCY": env_int("SMS_WORKER_CONCURRENCY", 8, minimum=1),
        "SMS_CLAIM_LEASE_SECONDS": env_int("SMS_CLAIM_LEASE_SECONDS", 60, minimum=1),
        "SMS_POLL_INTERVAL": env_float("SMS_POLL_INTERVAL", 0.5, minimum=0.01),
        "SMS_IN_APP_DISPATCHER": env_bool("SMS_IN_APP_DISPATCHER", True),
        "TRUSTED_PROXY_HOPS": env_int("TRUSTED_PROXY_HOPS", 0),
        # The host names the site answers to (comma-separated); any other Host header is a
        # 400. Unset, every host is accepted (production warns at start).
        "TRUSTED_HOSTS": env_list("TRUSTED_HOSTS"),
        # How long a token from POST /api/auth/login works; an admin-regenerated one has no
        # expiry unless the admin gives it one.
        "API_LOGIN_TOKEN_HOURS": env_int("API_LOGIN_TOKEN_HOURS", 24, minimum=1),
        "SESSION_COOKIE_SECURE": production,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Unset: the login throttle counts in the database, shared by every process.
        "RATELIMIT_STORAGE_URI": env_str("RATELIMIT_STORAGE_URI"),
        "LOGIN_LIMIT_PER_ACCOUNT": env_str("LOGIN_LIMIT_PER_ACCOUNT", "10 per 15 minutes"),
        "LOGIN_LIMIT_PER_ADDRESS": env_str("LOGIN_LIMIT_PER_ADDRESS", "30 per minute"),
        # Admins must set up two-factor sign-in before any other page (web only; not the API).
        "REQUIRE_2FA_FOR_ADMINS": env_bool("REQUIRE_2FA_FOR_ADMINS", False),
        # Webhooks over plain http, and to loopback or private addresses (a receiver on
        # this host or network); off, only https to public addresses.
        "WEBHOOK_ALLOW_HTTP": env_bool("WEBHOOK_ALLOW_HTTP", False),
        # When set, /metrics needs `Authorization: Bearer <METRICS_TOKEN>`; unset, loopback only.
        "METRICS_TOKEN": env_str("METRICS_TOKEN"),
        "MAX_CONTENT_LENGTH": env_int("MAX_CONTENT_LENGTH", 4 * 1024 * 1024, minimum=1024),
        # A compose textarea of 100,000 numbers is about 1 MB; Flask's default is 500 kB.
        "MAX_FORM_MEMORY_SIZE": 2 * 1024 * 1024,
        # A file of recipients, and a personalised API send: 100,000 rows with a few
        # columns is 5-10 MB.
        "UPLOAD_MAX_BYTES": env_int("UPLOAD_MAX_BYTES", 20 * 1024 * 1024, minimum=1024),
        # OFCA's do-not-call register: about 10 bytes a number, so 2,000,000 numbers are 20 MB.
        "DNC_UPLOAD_MAX_BYTES": env_int("DNC_UPLOAD_MAX_BYTES", 64 * 1024 * 1024, minimum=1024),
        # Numbers the numbering plan calls fixed line, pager or another non-SMS kind are
        # skipped; false sends to every number.
        "SMS_SKIP_NON_MOBILE": env_bool("SMS_SKIP_NON_MOBILE", True),
        # Appended once to commercial sends that lack it (UEMO, Cap. 593, s.9).
        "UEMO_UNSUBSCRIBE_TEXT": env_str("UEMO_UNSUBSCRIBE_TEXT", DEFAULT_UNSUBSCRIBE_TEXT),
    }
