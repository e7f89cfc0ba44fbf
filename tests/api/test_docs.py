"""The OpenAPI document and the health endpoints."""

import pytest

from smspanel.api.docs import PATH_ARGUMENT, UndeclaredRoute, openapi_document
from smspanel.api.operations import PathId, is_declared, operation, operation_of
from smspanel.api.schemas import HealthData
from smspanel.authz import public

SERVES_THE_DOCUMENT = {"api.openapi_json", "api.docs_page"}


def test_every_api_route_declares_its_operation(app):
    api_rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.")]
    assert {rule.rule for rule in api_rules} == {
        rule.rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")
    }
    for rule in api_rules:
        view = app.view_functions[rule.endpoint]
        assert is_declared(view), rule.endpoint
        assert (operation_of(view) is None) == (rule.endpoint in SERVES_THE_DOCUMENT)


def test_openapi_document_describes_every_api_route(app, client):
    spec = client.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    api_rules = {
        PATH_ARGUMENT.sub(r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/") and rule.endpoint not in SERVES_THE_DOCUMENT
    }
    assert api_rules == set(spec["paths"])
    schemas = spec["components"]["schemas"]
    send = schemas["BulkSendRequest"]
    assert send["properties"]["recipients"]["maxItems"] == 100_000
    for path in spec["paths"].values():
        for described in path.values():
            for status, response in described["responses"].items():
                if status == "204":  # no content
                    assert "content" not in response
                    continue
                if "text/csv" in response["content"]:  # a download, not the envelope
                    assert response["content"]["text/csv"]["schema"] == {"type": "string"}
                    continue
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref.split("/")[-1] in schemas


def test_token_routes_and_only_they_ask_for_the_token(client):
    spec = client.get("/api/openapi.json").get_json()
    secured = {
        (method, path)
        for path, operations in spec["paths"].items()
        for method, described in operations.items()
        if described.get("security") == [{"bearer": []}]
    }
    assert secured == {
        (method, path)
        for path, operations in spec["paths"].items()
        for method in operations
        if path not in ("/api/auth/login", "/api/health")
    }


def test_an_api_route_added_without_a_declaration_stops_the_document(app):
    app.add_url_rule("/api/forgotten", "api.forgotten", public(lambda: "not described"))
    with pytest.raises(UndeclaredRoute, match=r"api\.forgotten \(/api/forgotten\)"):
        openapi_document(app)


def test_declared_path_parameters_must_be_the_rules(app):
    misnamed = operation("Misnamed", path=(PathId("id"),), responds=(200, HealthData, "Ok"))
    app.add_url_rule("/api/things/<int:thing_id>", "api.thing", public(misnamed(lambda: "")))
    with pytest.raises(UndeclaredRoute, match="thing_id"):
        openapi_document(app)


def test_an_error_status_without_a_description_is_refused_where_it_is_declared():
    with pytest.raises(ValueError, match="418"):
        operation("Teapot", responds=(200, HealthData, "Ok"), errors=(418,))


def test_docs_page_renders_the_document(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    assert b"/api/sms/send-bulk" in page.data and b"BulkSendRequest" in page.data


def test_health_endpoints(client):
    assert client.get("/api/health").get_json()["data"] == {"database": "ok"}
    assert client.get("/health/live").status_code == 200
    assert client.get("/health/ready").get_json()["database"] == "ok"


def test_health_and_api_are_503_when_the_database_is_unreachable(tmp_path, monkeypatch):
    from smspanel import create_app

    monkeypatch.setenv("SMSPANEL_INSTANCE_PATH", str(tmp_path))
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "s" * 40,
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://127.0.0.1:9/none",
        }
    )
    client = app.test_client()
    assert client.get("/api/health").status_code == 503
    assert client.get("/health/ready").status_code == 503
    assert client.get("/health/live").status_code == 200
    response = client.get("/api/sms", headers={"Authorization": "Bearer smsp_x"})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "SERVICE_UNAVAILABLE"


def test_docs_page_code_blocks_are_labelled_regions_and_tables_have_headers(client):
    """At phone width a body's JSON scrolls sideways: Tab reaches it, and it says what it is
    (WCAG 2.1.1, 4.1.2); every table has column headers and row headers (1.3.1)."""
    import re

    html = client.get("/api/docs").get_data(as_text=True)
    blocks = re.findall(r"<pre\b[^>]*>", html)
    assert blocks
    for block in blocks:
        assert 'tabindex="0"' in block and 'role="region"' in block
        assert re.search(
            r'aria-label="Body of (GET|POST|PUT|DELETE|PATCH) /api/[^"]+, JSON"', block
        )
    labels = re.findall(r'<pre\b[^>]*aria-label="([^"]+)"', html)
    assert len(set(labels)) == len(labels), "each region has its own name"
    tables = re.findall(r"<table\b.*?</table>", html, flags=re.S)
    assert tables
    for table in tables:
        assert re.search(r'<thead><tr>(<th scope="col">[^<]+</th>)+</tr></thead>', table)
        rows = re.findall(r"<tr>.*?</tr>", table.split("<tbody", 1)[1], flags=re.S)
        assert rows and all(row.startswith('<tr><th scope="row">') for row in rows)
    assert '<th scope="col">Status</th><th scope="col">Description</th>' in html


def test_docs_page_headers_speak_chinese_and_the_reference_stays_english(client):
    html = client.get("/api/docs", headers={"Accept-Language": "zh-HK"}).get_data(as_text=True)
    assert '<th scope="col">說明</th>' in html
    assert '<tbody lang="en">' in html
    assert 'aria-label="POST /api/sms/send-bulk 的請求內容（JSON）"' in html
