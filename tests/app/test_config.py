"""Settings: development needs nothing; production refuses to start on missing or weak ones."""

import os
import stat

import pytest

from smspanel import ConfigError, create_app
from smspanel.config import resolve_database_url

GATEWAY = {
    "SMS_BASE_URL": "https://gateway.example/gateway.jsp",
    "SMS_APPLICATION_ID": "app",
    "SMS_SENDER_NUMBER": "12345678",
}
STRONG = "k4J9-vQx2_Lm8Rt5Wz1Yb6Nc3Pd7Fg0Hs"


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("SMSPANEL_INSTANCE_PATH", str(tmp_path / "instance"))
    for name in ("DATABASE_URL", "SECRET_KEY", "FLASK_ENV", *GATEWAY):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_development_runs_with_nothing_set(env, tmp_path):
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'instance' / 'sms.db'}"
    secret_file = tmp_path / "instance" / "secret_key"
    assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
    assert create_app().config["SECRET_KEY"] == app.config["SECRET_KEY"]  # survives restarts
    assert app.config["SMS_BASE_URL"] is None  # simulated gateway: no real texts


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({**GATEWAY}, "SECRET_KEY is not set"),
        ({**GATEWAY, "SECRET_KEY": "short"}, "SECRET_KEY is too short"),
        ({**GATEWAY, "SECRET_KEY": "a" * 40}, "SECRET_KEY is a placeholder or weak"),
        ({"SECRET_KEY": STRONG}, "SMS_BASE_URL is not set"),
        ({"SECRET_KEY": STRONG, "SMS_BASE_URL": "https://x"}, "SMS_APPLICATION_ID is not set"),
        (
            {**GATEWAY, "SECRET_KEY": STRONG, "ADMIN_PASSWORD": "short"},
            "ADMIN_PASSWORD is too weak: password must be at least 12",
        ),
        (
            {**GATEWAY, "SECRET_KEY": STRONG, "SMS_WORKER_CONCURRENCY": "many"},
            "SMS_WORKER_CONCURRENCY must be a whole number",
        ),
    ],
)
def test_production_refuses_missing_or_weak_settings(env, settings, named):
    env.setenv("FLASK_ENV", "production")
    for name, value in settings.items():
        env.setenv(name, value)
    with pytest.raises(ConfigError, match=named):
        create_app()


def test_production_starts_with_everything_set(env):
    env.setenv("FLASK_ENV", "production")
    env.setenv("SECRET_KEY", STRONG)
    for name, value in GATEWAY.items():
        env.setenv(name, value)
    assert create_app().config["PRODUCTION"] is True


def test_pool_settings_apply_to_servers_only(env):
    from smspanel.database import engine_options

    env.setenv("DATABASE_URL", "postgresql+psycopg://localhost/test")
    env.setenv("SQLALCHEMY_POOL_SIZE", "5")
    options = engine_options(create_app().config)
    assert options["pool_size"] == 5 and options["max_overflow"] == 20
    assert options["pool_recycle"] == 3600 and options["pool_pre_ping"] is True
    env.delenv("DATABASE_URL")
    assert "pool_size" not in engine_options(create_app().config)


@pytest.mark.parametrize("url", ["sqlite:///sms.db", "sqlite:///instance/sms.db"])
def test_both_readme_spellings_of_the_sqlite_url_mean_instance_sms_db(tmp_path, url):
    assert (
        resolve_database_url(url, tmp_path / "instance") == f"sqlite:///{tmp_path}/instance/sms.db"
    )


def test_processes_starting_together_agree_on_one_development_secret(env, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from smspanel.config import development_secret

    folder = tmp_path / "race"
    with ThreadPoolExecutor(8) as pool:
        secrets = set(pool.map(lambda _: development_secret(folder), range(32)))
    assert len(secrets) == 1 and len(secrets.pop()) >= 32
    assert [p.name for p in folder.iterdir()] == ["secret_key"]


def test_production_warns_at_start_when_trusted_hosts_is_unset(env, caplog):
    env.setenv("FLASK_ENV", "production")
    env.setenv("SECRET_KEY", STRONG)
    for name, value in GATEWAY.items():
        env.setenv(name, value)
    env.delenv("TRUSTED_HOSTS", raising=False)
    with caplog.at_level("WARNING", logger="smspanel.hosts"):
        create_app()
    assert "TRUSTED_HOSTS is not set" in caplog.text
    caplog.clear()
    env.setenv("TRUSTED_HOSTS", "sms.example.gov.hk, sms.internal")
    with caplog.at_level("WARNING", logger="smspanel.hosts"):
        app = create_app()
    assert app.config["TRUSTED_HOSTS"] == ["sms.example.gov.hk", "sms.internal"]
    assert "TRUSTED_HOSTS" not in caplog.text


@pytest.mark.parametrize("name", ["LOGIN_LIMIT_PER_ACCOUNT", "LOGIN_LIMIT_PER_ADDRESS"])
def test_a_login_limit_the_throttle_cannot_read_stops_the_start(env, name):
    env.setenv(name, "ten a while")
    with pytest.raises(ConfigError, match=f"{name}='ten a while' is not a limit"):
        create_app()


def test_login_counts_are_in_the_database_unless_a_store_is_named(env):
    assert create_app().config["RATELIMIT_STORAGE_URI"] is None
    env.setenv("RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6379")
    assert create_app().config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379"
