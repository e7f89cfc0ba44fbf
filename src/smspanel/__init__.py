"""smspanel: send SMS through the 1010/HKT gateway and track every recipient."""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter

from smspanel.config import ConfigError, default_instance_path, load_env_file, load_settings
from smspanel.services.accounts import ADMIN_USERNAME
from smspanel.services.passwords import WeakPassword, check_password_policy

__all__ = ["ConfigError", "create_app"]


class DatabaseIdConverter(IntegerConverter):
    def __init__(self, map, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app; settings come from the environment unless `test_config` overrides them."""
    load_env_file()
    instance_path = default_instance_path()
    app = Flask(__name__, instance_path=str(instance_path), instance_relative_config=True)
    settings = load_settings(instance_path)
    if settings["ADMIN_PASSWORD"] is not None:
        try:
            check_password_policy(ADMIN_USERNAME, settings["ADMIN_PASSWORD"])
        except WeakPassword as exc:
            raise ConfigError(f"ADMIN_PASSWORD is too weak: {exc}") from None
    if test_config:
        settings.update(test_config)
    app.config.update(settings)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # Chinese stays readable
    if not app.config.get("SECRET_KEY"):
        from smspanel.config import development_secret

        app.config["SECRET_KEY"] = development_secret(instance_path)
    instance_path.mkdir(parents=True, exist_ok=True)

    from smspanel import (
        cli,
        database,
        errors,
        hktime,
        i18n,
        metrics_endpoint,
        request_context,
        security_headers,
        throttling,
        web,
    )
    from smspanel.api import bp as api_bp
    from smspanel.health import bp as health_bp

    # Ids in URLs fit a 64-bit column; a larger number is simply no such page (404).
    app.url_map.converters["int"] = DatabaseIdConverter
    database.init_app(app)
    errors.init_app(app)
    request_context.init_app(app)
    throttling.init_app(app)
    security_headers.init_app(app)
    hktime.init_app(app)
    i18n.init_app(app)
    cli.init_app(app)
    web.init_app(app)
    app.register_blueprint(api_bp)
    web.csrf.exempt(api_bp)  # bearer tokens, which a browser never sends by itself
    app.register_blueprint(health_bp)
    metrics_endpoint.init_app(app)
    return app
