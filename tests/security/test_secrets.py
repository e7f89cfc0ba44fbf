"""Secrets stay secret: not in logs, error pages or API answers."""

import os
import stat
import subprocess
import sys

from loopback import ROOT
from tests.conftest import PASSWORD

STRONG = "k4J9-vQx2_Lm8Rt5Wz1Yb6Nc3Pd7Fg0Hs"


def test_production_never_logs_the_generated_admin_password(tmp_path):
    instance = tmp_path / "instance"
    code = (
        "from smspanel import create_app\n"
        "from smspanel.database import prepare_database\n"
        "from smspanel.log_format import configure_logging\n"
        "configure_logging()\n"
        "prepare_database(create_app())\n"
    )
    env = {
        "PATH": os.environ["PATH"],
        "FLASK_ENV": "production",
        "SECRET_KEY": STRONG,
        "SMS_BASE_URL": "http://127.0.0.1:9/gateway.jsp",
        "SMS_APPLICATION_ID": "app",
        "SMS_SENDER_NUMBER": "1234",
        "SMSPANEL_INSTANCE_PATH": str(instance),
    }
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    secret_file = instance / "initial_admin_password"
    password = secret_file.read_text().strip()
    assert len(password) >= 16
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert password not in result.stdout + result.stderr
    assert "initial_admin_password" in result.stderr  # the warning says where to look


def test_tokens_and_passwords_never_come_back_in_api_answers(client, make):
    user = make.user("alice")
    login = client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    token = login.get_json()["data"]["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    message_id = make.message(user)
    for path in ("/api/sms", f"/api/sms/{message_id}", f"/api/sms/{message_id}/recipients"):
        body = client.get(path, headers=headers).get_data(as_text=True)
        assert token not in body and PASSWORD not in body and "scrypt" not in body


def test_errors_never_show_a_traceback(client, make, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("internal detail that must not leak")

    monkeypatch.setattr("smspanel.api.sms.accept_send", explode)
    headers = make.auth(make.user())
    body = {"recipient": "12345678", "content": "x"}
    response = client.post("/api/sms", json=body, headers=headers)
    assert response.status_code == 500
    assert response.get_json()["error"] == {
        "code": "INTERNAL_ERROR",
        "message": "an unexpected error occurred",
    }
    assert "internal detail" not in response.get_data(as_text=True)
