"""Quotas on the web: compose and the file check page show the month's use and what the send
takes, a banner warns from 80% (compose, check, dashboard), a send past the quota is
refused with its figures and stores nothing, and admins see every department's month."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from smspanel.models import Message, Upload, db, utcnow
from smspanel.services.quotas import month_of, neighbour_months
from tests.campaign_helpers import make_template
from tests.quota_helpers import usage
from tests.web.conftest import login, page_text
from tests.web.test_uploads import uploaded

TWO = {"recipients": "9123 4567\n6123 4567", "content": "Water off", "enquiry_number": "2833 1234"}
BANNER = "data-quota-banner"


def messages(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Message))


def test_compose_shows_the_months_use_of_the_department(make, user, user_client):
    make.assign(user, make.department("Schools", quota=1000))
    make.message(user, ["91234567", "61234567"])
    text = page_text(user_client.get("/compose"))
    assert "Used 2 of 1,000 SMS segments this month (Schools, 998 left)." in text
    assert BANNER not in user_client.get("/compose").get_data(as_text=True)


def test_compose_says_what_the_typed_send_would_take(make, user, user_client):
    make.assign(user, make.department("Schools", quota=3))
    make.message(user, ["91234567", "61234567"])
    refused = user_client.post("/compose", data=TWO)  # 2 more than the 1 left
    text = page_text(refused)
    assert "This send takes 2." in text
    assert "That is more than is left: the send would be refused." in text


def test_without_a_department_compose_shows_no_quota(user_client):
    text = page_text(user_client.get("/compose"))
    assert "SMS segments this month" not in text
    assert BANNER not in user_client.get("/compose").get_data(as_text=True)


def test_a_compose_past_the_quota_is_refused_with_the_figures_and_stores_nothing(
    app, make, user, user_client
):
    schools = make.department("Schools", quota=3)
    make.assign(user, schools)
    make.message(user, ["91234567", "61234567"])
    response = user_client.post("/compose", data=TWO)
    assert response.status_code == 422
    text = page_text(response)
    assert "The message was not sent" in text
    assert (
        "Monthly quota: This send needs 2 SMS segments, but your department has used 2 of "
        "its monthly quota of 3 (1 left). Nothing was sent." in text
    )
    assert 'href="#quota"' in response.get_data(as_text=True)
    assert messages(app) == 1
    assert usage(app, schools) == (2, 1, 2)


def test_a_send_that_fits_goes_and_is_counted(app, make, user, user_client):
    schools = make.department("Schools", quota=2)
    make.assign(user, schools)
    response = user_client.post("/compose", data=TWO)
    assert response.status_code == 302
    assert usage(app, schools) == (2, 1, 2)


@pytest.mark.parametrize("page", ["/", "/compose"])
def test_a_banner_warns_from_80_percent_of_the_quota(make, user, user_client, page):
    make.assign(user, make.department("Schools", quota=5))
    make.message(user, ["91234567", "61234567", "61234568"])  # 60%
    assert BANNER not in user_client.get(page).get_data(as_text=True)
    make.message(user, ["91234569"])  # 80%
    response = user_client.get(page)
    assert BANNER in response.get_data(as_text=True)
    assert (
        f"Monthly quota: Schools has used 80% of its monthly quota: 4 of 5 SMS segments for "
        f"{month_of(utcnow())}. A send that would pass the quota is refused." in page_text(response)
    )
    make.message(user, ["91234560"])  # 100%
    assert "has used all of its 5 SMS segments" in page_text(user_client.get(page))


def test_the_banner_speaks_traditional_chinese(make, user, user_client):
    make.assign(user, make.department("學校", quota=5))
    make.message(user, ["91234567", "61234567", "61234568", "61234569"])
    user_client.get("/lang/zh-Hant")
    text = page_text(user_client.get("/compose"))
    assert "配額" in text and "學校" in text and "80%" in text


# --- the file check page ----------------------------------------------------------------------

NOTICE = "Dear ((name)), see you on ((date))."
FILE = b"phone,name,date\r\n9123 4567,Ann,2 Dec\r\n6123 4567,Bob,3 Dec\r\n"


@pytest.fixture
def check_page(app, user_client) -> str:
    with app.app_context():
        template_id = make_template(db.session, NOTICE, "Appointment")
    return uploaded(user_client, template_id, FILE)


def test_the_check_page_shows_the_use_what_the_file_takes_and_the_banner(
    make, user, user_client, check_page
):
    make.assign(user, make.department("Clinics", quota=5))
    make.message(user, ["91234567", "61234567", "61234568", "61234569"])
    response = user_client.get(check_page)
    text = page_text(response)
    assert "Used 4 of 5 SMS segments this month (Clinics, 1 left)." in text
    assert "This send takes 2." in text and "the send would be refused" in text
    assert BANNER in response.get_data(as_text=True)


def test_a_file_send_past_the_quota_is_refused_and_the_upload_kept(
    app, make, user, user_client, check_page
):
    clinics = make.department("Clinics", quota=5)
    make.assign(user, clinics)
    make.message(user, ["91234567", "61234567", "61234568", "61234569"])
    response = user_client.post(check_page, data={"enquiry_number": "2833 1234"})
    assert response.status_code == 422
    text = page_text(response)
    assert "Nothing was sent" in text
    assert "This send needs 2 SMS segments, but your department has used 4 of its" in text
    assert messages(app) == 1
    assert usage(app, clinics) == (4, 1, 4)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Upload)) == 1


# --- the admins' page -------------------------------------------------------------------------


def test_admins_see_every_departments_month(make, client):
    schools = make.department("Schools", quota=10)
    make.department("Clinics")
    sender = make.user("sender", department=schools)
    make.message(sender, ["91234567", "61234567"], "x" * 161)  # 4 segments
    make.user("boss", is_admin=True)
    login(client, "boss")
    response = client.get("/admin/usage")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'data-department="{schools.id}" class="is-warn"' not in html
    text = page_text(response)
    assert f"Quota use in {month_of(utcnow())}" in text
    assert "Clinics 0 none — 0 0" in text
    assert "Schools 4 10 40% 1 2" in text
    assert 'href="/admin/usage" aria-current="page"' in html


def test_the_admins_page_shows_another_month_and_ignores_a_bad_one(make, client):
    make.department("Schools", quota=10)
    make.user("boss", is_admin=True)
    login(client, "boss")
    previous, _ = neighbour_months(month_of(utcnow()))
    assert f"Quota use in {previous}" in page_text(client.get(f"/admin/usage?month={previous}"))
    text = page_text(client.get("/admin/usage?month=2026-13"))
    assert "Month ignored: 2026-13 is not a month like 2026-12." in text
    assert f"Quota use in {month_of(utcnow())}" in text


def test_the_admins_page_is_for_admins_only(user_client):
    assert user_client.get("/admin/usage").status_code == 403
