"""A regenerated API token is shown once, in the answer to its POST: Flask's session cookie is
signed but readable (base64 + zlib), so the token must never travel in it."""

from __future__ import annotations

import base64
import re
import zlib

from tests.web.conftest import login


def readable_cookie(client) -> str:
    """What anyone holding the session cookie can read, without the key."""
    value = client.get_cookie("session").value
    compressed = value.startswith(".")
    payload = value.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return (zlib.decompress(raw) if compressed else raw).decode()


def test_the_session_cookie_never_carries_a_regenerated_token(app, client, make):
    make.user("boss", is_admin=True)
    bob = make.user("bob")
    assert login(client, "boss").status_code == 302
    response = client.post(f"/admin/users/{bob.id}/regenerate_token")
    assert "smsp_" not in readable_cookie(client)
    token = re.search(r'value="(smsp_[^"]+)"', response.get_data(as_text=True)).group(1)
    decoded = app.session_interface.get_signing_serializer(app).loads(
        client.get_cookie("session").value
    )
    assert token not in repr(decoded)


def test_replaying_the_cookie_does_not_show_the_token_again(app, client, make):
    make.user("boss", is_admin=True)
    bob = make.user("bob")
    assert login(client, "boss").status_code == 302
    client.post(f"/admin/users/{bob.id}/regenerate_token")
    for _ in range(2):
        replay = app.test_client()
        replay.set_cookie("session", client.get_cookie("session").value)
        page = replay.get("/admin/users")
        assert page.status_code == 200, "the replayed cookie is still a login"
        assert "smsp_" not in page.get_data(as_text=True)
