"""Every route has an explicit access rule, and each rule is enforced."""

import re

import pytest

from smspanel.authz import ADMIN, LOGIN, PUBLIC, TOKEN, rule_of
from tests.web.conftest import login

FLASK_BUILT_INS = {"static"}  # Flask's own static files: public by nature


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
        if endpoint not in FLASK_BUILT_INS and rule_of(view) not in {PUBLIC, LOGIN, ADMIN, TOKEN}
    ]
    assert undeclared == []


def test_anonymous_callers_get_nothing_but_public_routes(app, client):
    for endpoint, method, path in routes(app):
        rule = rule_of(app.view_functions[endpoint])
        response = client.open(path, method=method)
        if rule == TOKEN:
            assert response.status_code == 401, (method, path)
        elif rule in (LOGIN, ADMIN):
            assert response.status_code == 302, (method, path)
            assert "/login" in response.headers["Location"], (method, path)


def test_non_admins_get_403_on_every_admin_route(app, client, make):
    make.user("plain")
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
