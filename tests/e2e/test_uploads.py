"""A file over the upload limit, under gunicorn: the answer reaches the client."""

from __future__ import annotations

import http.client
import re
import secrets

import pytest
from sqlalchemy import create_engine, insert

from loopback import ADMIN_PASSWORD, App
from smspanel.models import Template, utcnow

pytestmark = pytest.mark.e2e


class Browserish:
    """One connection with a session cookie, sending bodies whole as browsers do (no
    `Expect: 100-continue`, which would let the server refuse before the body is sent)."""

    def __init__(self, app: App) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", app.port, timeout=30)
        self.cookie = ""

    def send(self, method: str, path: str, body: bytes = b"", content_type: str = ""):
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if content_type:
            headers["Content-Type"] = content_type
        self.connection.request(method, path, body or None, headers)
        response = self.connection.getresponse()
        page = response.read()
        for cookie in response.headers.get_all("Set-Cookie") or []:
            if cookie.startswith("session="):
                self.cookie = cookie.split(";", 1)[0]
        return response.status, page

    def token(self, path: str) -> str:
        return (
            re.search(rb'name="csrf_token" value="([^"]+)"', self.send("GET", path)[1])
            .group(1)
            .decode()
        )


def multipart(fields: dict[str, str], filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = secrets.token_hex(12)
    parts = [
        f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'.encode()
        + b"Content-Type: text/csv\r\n\r\n"
        + data
    )
    body = b"".join(f"--{boundary}\r\n".encode() + part + b"\r\n" for part in parts)
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_an_upload_over_the_limit_gets_its_page_not_a_reset(tmp_path):
    app = App.gunicorn(
        tmp_path, None, SMS_IN_APP_DISPATCHER="false", UPLOAD_MAX_BYTES=str(2 * 1024 * 1024)
    ).start(60)
    try:
        engine = create_engine(app.database_url)
        with engine.begin() as connection:
            template_id = connection.execute(
                insert(Template.__table__),
                {"name": "Notice", "content": "Dear ((name)).", "created_at": utcnow(),
                 "updated_at": utcnow()},
            ).inserted_primary_key[0]  # fmt: skip
        engine.dispose()
        client = Browserish(app)
        login = f"csrf_token={client.token('/login')}&username=SMSadmin&password={ADMIN_PASSWORD}"
        status, _ = client.send(
            "POST", "/login", login.replace(" ", "+").encode(), "application/x-www-form-urlencoded"
        )
        assert status == 302
        body, content_type = multipart(
            {"csrf_token": client.token("/send/upload"), "template_id": str(template_id)},
            "everyone.csv",
            b"phone,name\r\n" + b"91234567,Ann\r\n" * 500_000,  # 7 MB: more than loopback buffers
        )
        status, page = client.send("POST", "/send/upload", body, content_type)
        assert status == 413
        assert "the file is larger than 2 MB (6.7 MB)" in page.decode()
    finally:
        app.stop()
