"""A file part where a form takes text is a 400 naming the field, on every form, never a 500
(WTForms would hand the view a FileStorage in place of text)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from flask_wtf import FlaskForm
from flask_wtf.file import FileField

import smspanel.web
from smspanel.web import forms
from tests.web.conftest import login, page_text

WEB_SOURCES = Path(smspanel.web.__file__).parent
READ_FROM_FORM = re.compile(r"""request\.form(?:\.get|\.getlist)?[(\[]["']([A-Za-z_]+)["']""")


def form_classes() -> list[type[FlaskForm]]:
    return [
        value
        for value in vars(forms).values()
        if isinstance(value, type) and issubclass(value, FlaskForm) and value is not FlaskForm
    ]


def text_fields() -> set[str]:
    """Every text field the web forms declare, and every field a view reads from the form."""
    names = {"csrf_token"}
    for form in form_classes():
        for name, field in vars(form).items():
            unbound = getattr(field, "field_class", None)
            if unbound is not None and not issubclass(unbound, FileField):
                names.add(name)
    for source in WEB_SOURCES.glob("*.py"):
        names.update(READ_FROM_FORM.findall(source.read_text()))
    return names


def web_form_posts(app) -> list[str]:
    """A URL for every POST route of the web interface (not the API)."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods or rule.rule.startswith("/api"):
            continue
        urls.append(rule.rule.replace("<int:", "<").replace("<", "{").replace(">", "}"))
    return [re.sub(r"\{[^}]+\}", "1", url) for url in urls]


def file_part(name: str) -> dict:
    return {name: (io.BytesIO(b"not text"), "part.txt", "text/plain")}


def test_the_enumeration_finds_the_forms_and_their_fields(app):
    assert len(form_classes()) >= 12
    assert {"username", "password", "recipients", "content", "reason", "phones"} <= text_fields()
    assert "file" not in text_fields()
    assert {"/login", "/compose", "/send/upload", "/admin/opt-outs"} <= set(web_form_posts(app))


def test_a_file_in_place_of_the_username_on_login_is_a_400_naming_it(client, make):
    make.user("alice")
    response = client.post("/login", data=file_part("username"), content_type="multipart/form-data")
    assert response.status_code == 400
    assert "The field username takes text, not a file" in page_text(response)


def test_every_form_refuses_a_file_part_in_place_of_every_text_field(app, client, make):
    make.user("boss", is_admin=True)
    assert login(client, "boss").status_code == 302
    fields = sorted(text_fields())
    for url in web_form_posts(app):
        for name in fields:
            response = client.post(url, data=file_part(name), content_type="multipart/form-data")
            assert response.status_code == 400, (url, name, response.status_code)
            assert f"The field {name} takes text" in page_text(response), (url, name)


@pytest.mark.parametrize("url", ["/send/upload", "/admin/opt-outs", "/admin/dnc"])
def test_the_file_forms_still_take_their_file_but_refuse_one_elsewhere(client, make, url):
    make.user("boss", is_admin=True)
    assert login(client, "boss").status_code == 302
    taken = client.post(url, data=file_part("file"), content_type="multipart/form-data")
    assert taken.status_code != 400 or "takes text" not in page_text(taken)
    assert taken.status_code < 500
    refused = client.post(
        url, data={**file_part("file"), **file_part("reason")}, content_type="multipart/form-data"
    )
    assert refused.status_code == 400 and "The field reason takes text" in page_text(refused)
