"""Every route has an explicit access rule, and each rule is enforced, for every role."""

import re

import pytest
from sqlalchemy import func, select

from smspanel.authz import ADMIN, LOGIN, PUBLIC, SCRAPER, SEND, TOKEN, TOKEN_SEND, rule_of
from smspanel.models import Message, Template, db
from tests.web.conftest import login

FLASK_BUILT_INS = {"static"}  # Flask's own static files: public by nature
RULES = {PUBLIC, LOGIN, ADMIN, TOKEN, SEND, TOKEN_SEND, SCRAPER}
CHANGES = {"POST", "PUT", "PATCH", "DELETE"}
# Routes open to logged-in users that change something and that a viewer may still use,
# each with why. Every other such route must refuse a viewer (403).
VIEWERS_MAY_CHANGE = {
    "api.add_opt_outs": "admins only, checked in the view (403 for anyone else)",
    "api.remove_opt_out": "admins only, checked in the view (403 for anyone else)",
    "two_factor.account": "their own sign-in: anyone may turn two-factor on or off",
    # A webhook is the user's own setting and sends nothing: it hears of their own sends.
    "webhook.account": "their own webhook: anyone may set where their events go",
    "webhook.rotate": "their own webhook's secret",
    "webhook.delete": "their own webhook",
    "webhook.resend": "their own webhook's deliveries",
    "api.set_webhook": "their own webhook: anyone may set where their events go",
    "api.delete_webhook": "their own webhook",
    "api.rotate_webhook_secret": "their own webhook's secret",
    "api.resend_delivery": "their own webhook's deliveries",
}


def routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in FLASK_BUILT_INS:
            continue
        path = re.sub(r"<(?:\w+:)?\w+>", "1", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, path


def test_every_route_declares_who_may_use_it(app):
    undeclared = [
        endpoint
        for endpoint, view in app.view_functions.items()
        if endpoint not in FLASK_BUILT_INS and rule_of(view) not in RULES
    ]
    assert undeclared == []


def test_anonymous_callers_get_nothing_but_public_routes(app, client):
    for endpoint, method, path in routes(app):
        rule = rule_of(app.view_functions[endpoint])
        response = client.open(path, method=method)
        if rule in (TOKEN, TOKEN_SEND):
            assert response.status_code == 401, (method, path)
        elif rule in (LOGIN, ADMIN, SEND):
            assert response.status_code == 302, (method, path)
            assert "/login" in response.headers["Location"], (method, path)
        elif rule == SCRAPER:  # the test client is on loopback, this host's own
            elsewhere = client.open(path, method=method, environ_base={"REMOTE_ADDR": "192.0.2.9"})
            assert elsewhere.status_code == 403, (method, path)


@pytest.mark.parametrize(
    "department, role",
    [(False, "sender"), (True, "sender"), (True, "approver"), (True, "viewer")],
)
def test_non_admins_get_403_on_every_admin_route(app, client, make, department, role):
    make.user("plain", department=make.department() if department else None, role=role)
    login(client, "plain")
    for endpoint, method, path in routes(app):
        if rule_of(app.view_functions[endpoint]) == ADMIN:
            assert client.open(path, method=method).status_code == 403, (method, path)


@pytest.mark.parametrize("path", ["/history/{id}", "/history/{id}?page=2"])
def test_another_users_message_is_404_on_the_web(app, client, make, path):
    owner, other = make.user("owner"), make.user("other")
    message_id = make.message(owner)
    login(client, other.username)
    assert client.get(path.format(id=message_id)).status_code == 404


def test_admins_may_open_any_message(app, client, make):
    message_id = make.message(make.user("owner"))
    make.user("boss", is_admin=True)
    login(client, "boss")
    assert client.get(f"/history/{message_id}").status_code == 200


@pytest.fixture
def viewer(make):
    return make.user("watcher", department=make.department("Clinic"), role="viewer")


def stored(app) -> tuple[int, int]:
    with app.app_context():
        return (
            db.session.scalar(select(func.count(Message.id))) or 0,
            db.session.scalar(select(func.count(Template.id))) or 0,
        )


def test_a_viewer_gets_403_on_every_sending_page_and_every_change(app, client, viewer):
    """Sending routes refuse a viewer whatever the method (GET /compose too, saying why);
    any other route a logged-in user may change things with refuses them as well, unless
    listed in VIEWERS_MAY_CHANGE."""
    login(client, viewer.username)
    for endpoint, method, path in routes(app):
        rule = rule_of(app.view_functions[endpoint])
        sending = rule == SEND
        changing = rule == LOGIN and method in CHANGES and endpoint not in VIEWERS_MAY_CHANGE
        if sending or changing:
            response = client.open(path, method=method, data={"content": "x"})
            assert response.status_code == 403, (endpoint, method, path)
    assert "Your role is viewer" in client.get("/compose").get_data(as_text=True)
    assert stored(app) == (0, 0)


def test_a_viewer_gets_403_forbidden_on_every_api_send_and_change(app, client, make, viewer):
    headers = make.auth(viewer)
    for endpoint, method, path in routes(app):
        rule = rule_of(app.view_functions[endpoint])
        changing = rule == TOKEN and method in CHANGES and endpoint not in VIEWERS_MAY_CHANGE
        if rule == TOKEN_SEND or changing:
            body = {"recipient": "61234567", "recipients": ["61234567"], "content": "x"}
            response = client.open(path, method=method, json=body, headers=headers)
            assert response.status_code == 403, (endpoint, method, path)
            assert response.get_json()["error"]["code"] == "FORBIDDEN", (method, path)
    assert stored(app) == (0, 0)


def test_other_roles_are_not_refused_the_sending_routes(app, client, make):
    """The same routes are open to senders and approvers (a missing id is still 404)."""
    department = make.department("Clinic")
    for role in ("sender", "approver"):
        user = make.user(f"a-{role}", department=department, role=role)
        login(client, user.username)
        headers = make.auth(user)
        for endpoint, method, path in routes(app):
            rule = rule_of(app.view_functions[endpoint])
            if rule == SEND:
                assert client.open(path, method=method).status_code != 403, (role, path)
            elif rule == TOKEN_SEND:
                response = client.open(path, method=method, json={}, headers=headers)
                assert response.status_code != 403, (role, method, path)
