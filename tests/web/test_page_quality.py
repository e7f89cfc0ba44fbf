"""Every page: no CDN, a label for every input, a token in every POST form, HKT times, and a
fixed number of queries however many rows are shown."""

from __future__ import annotations

import re

import pytest

from smspanel.models import db
from smspanel.services.templates import create_template
from tests.queries import recorded_statements
from tests.web.conftest import deliver

PAGES = [
    "/",
    "/?time_filter=7d",
    "/compose",
    "/send/upload",
    "/history",
    "/history/{message}",
    "/templates",
    "/templates/new",
    "/templates/{template}/edit",
    "/admin/users",
    "/admin/users/create",
    "/admin/users/{user}/password",
    "/admin/users/{user}/delete",
    "/admin/users/{user}",
    "/admin/departments",
    "/admin/departments/{department}",
    "/admin/messages",
    "/admin/dead-letter",
    "/account/webhook",
]


@pytest.fixture
def filled(app, make, admin):
    """A few users and messages, one partly failed, so every page has rows to show."""
    department = make.department("Finance")
    other = make.user("bob", department=department)
    message = make.message(other, ["11112222", "33334444"], "Sample")
    deliver(app, failing={"33334444"})
    with app.app_context():
        template = create_template(db.session, other.id, "Reminder", "Dear ((name)), see you").id
    return {
        "message": message,
        "user": other.id,
        "template": template,
        "department": department.id,
    }


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_self_contained_labelled_and_protected(admin_client, filled, path):
    response = admin_client.get(path.format(**filled))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html), "nothing loads from elsewhere"
    ids_with_labels = set(re.findall(r'<label for="([^"]+)"', html))
    for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
        if 'type="hidden"' in tag:
            continue
        input_id = re.search(r'id="([^"]+)"', tag)
        assert input_id and input_id.group(1) in ids_with_labels, f"unlabelled: {tag}"
    for form in re.findall(r'<form[^>]*method="post".*?</form>', html, flags=re.S):
        assert 'name="csrf_token"' in form


@pytest.mark.parametrize(
    "path", ["/", "/history/{message}", "/admin/messages", "/admin/users", "/templates"]
)
def test_times_are_shown_in_hkt(admin_client, filled, path):
    html = admin_client.get(path.format(**filled)).get_data(as_text=True)
    times = re.findall(r"<time [^>]*>([^<]+)</time>", html)
    assert times and all(t.endswith(" HKT") for t in times)


def count_queries(app, client, path: str) -> int:
    with recorded_statements(app) as statements:
        assert client.get(path).status_code == 200
    return len(statements)


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/?time_filter=7d",
        "/history",
        "/history?status=failed",
        "/history?date_from=2020-01-01&date_to=2099-12-31",
        "/history?search=notice",
        "/history?search=6000",
        "/history?search=5000+0000",
        "/history?page=2",
        "/admin/messages",
        "/admin/messages?search=notice",
        "/history/{message}",
        "/admin/dead-letter",
        "/admin/users",
        "/admin/departments",
    ],
)
def test_no_query_per_row(app, admin_client, make, admin, path):
    """Growing from 1 to 31 rows adds no queries: listings join and aggregate."""
    senders = [make.user(f"sender{n}", department=make.department()) for n in range(15)]
    first = make.message(senders[0], [f"5000{n:04d}" for n in range(15)], "First notice")
    make.message(admin, ["50000000"], "Admin's first notice")
    deliver(app, failing={"50000000"})
    few = count_queries(app, admin_client, path.format(message=first))
    for n, sender in enumerate(senders):
        make.message(sender, [f"6000{n:04d}"], f"Notice {n}")
        make.message(admin, [f"6000{n:04d}", "50000000"], f"Admin's notice {n}")
    deliver(app, failing={f"6000{n:04d}" for n in range(15)})
    many = count_queries(app, admin_client, path.format(message=first))
    assert many == few
