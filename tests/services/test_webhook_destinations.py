"""Where a webhook may point (SSRF): https to public addresses; http, loopback and private
addresses only when the panel allows them; link-local (cloud metadata) never, in any
spelling; and a name is judged by every address it resolves to."""

from __future__ import annotations

import ipaddress

import pytest

from smspanel.services.webhooks.destinations import (
    MAX_URL_LENGTH,
    RefusedDestination,
    UnresolvedHost,
    check_destination,
    parse_destination,
    refusal_for_address,
    resolve_destination,
)
from tests.webhook_helpers import PUBLIC_ADDRESS, TEST_NAMES, resolve_as


@pytest.fixture(autouse=True)
def dns(monkeypatch):
    resolve_as(
        monkeypatch,
        {
            **TEST_NAMES,
            "metadata.example.com": ["169.254.169.254"],
            "mixed.example.com": [PUBLIC_ADDRESS, "192.168.1.20"],
            "loopback.example.com": ["127.0.0.1"],
            "v6.example.com": ["2606:2800:220:1:248:1893:25c8:1946"],
            "mapped.example.com": ["::ffff:169.254.169.254"],
        },
    )


def refusal(url: str, allow_private: bool = False) -> str:
    with pytest.raises(RefusedDestination) as refused:
        check_destination(url, allow_private)
    return str(refused.value)


def test_https_to_a_public_address_is_accepted_with_its_host_and_port():
    destination = check_destination(" https://hooks.example.com/smspanel?x=1 ", False)
    assert (destination.url, destination.host, destination.port, destination.https) == (
        "https://hooks.example.com/smspanel?x=1",
        "hooks.example.com",
        443,
        True,
    )
    assert check_destination("https://hooks.example.com:8443/", False).port == 8443
    assert check_destination("HTTPS://hooks.example.com./x", False).host == "hooks.example.com"


def test_a_public_ipv6_name_or_literal_is_accepted():
    assert check_destination("https://v6.example.com/", False).https
    assert check_destination("https://[2606:2800:220:1:248:1893:25c8:1946]/", False).port == 443


def test_plain_http_only_when_allowed():
    assert "must use https://" in refusal("http://hooks.example.com/x")
    assert "WEBHOOK_ALLOW_HTTP=true" in refusal("http://hooks.example.com/x")
    destination = check_destination("http://hooks.example.com/x", True)
    assert (destination.port, destination.https) == (80, False)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://loopback.example.com/hook",
        "https://10.0.0.5/hook",
        "https://172.16.3.4/hook",
        "https://192.168.1.20/hook",
        "https://internal.example.com/hook",
        "https://[::1]/hook",
        "https://[fd00::1]/hook",
        "http://127.0.0.1:8080/hook",
    ],
)
def test_loopback_and_private_addresses_only_when_allowed(url):
    expected = "must use https://" if url.startswith("http:") else "this host or a private"
    assert expected in refusal(url)
    assert "WEBHOOK_ALLOW_HTTP=true" in refusal(url)
    assert check_destination(url, True).url == url


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/",
        "http://169.254.169.254/latest/meta-data/",
        "https://169.254.0.1/",
        "https://[::ffff:169.254.169.254]/",
        "https://[::ffff:a9fe:a9fe]/",  # the same, written in hex
        "https://[fe80::1]/",
        "https://metadata.example.com/",
        "https://mapped.example.com/",
        "https://0.0.0.0/",
        "https://[::]/",
        "https://224.0.0.1/",
    ],
)
def test_link_local_multicast_and_unspecified_addresses_are_always_refused(url):
    for allowed in (False, True):
        message = refusal(url, allowed)
        if "http://" in url and not allowed:
            assert "https://" in message
            continue
        assert "link-local, multicast or unspecified" in message


def test_the_metadata_address_is_named_in_the_refusal_in_its_ipv4_form():
    assert refusal("https://[::ffff:169.254.169.254]/", True).startswith("169.254.169.254 is")
    reason = refusal_for_address(ipaddress.ip_address("::ffff:169.254.169.254"), True)
    assert reason and "169.254.169.254" in reason


def test_a_name_with_any_private_address_is_refused_so_public_ones_cannot_hide_it():
    assert "192.168.1.20" in refusal("https://mixed.example.com/")
    assert check_destination("https://mixed.example.com/", True).host == "mixed.example.com"


def test_a_name_that_does_not_resolve_is_accepted_when_set_and_refused_when_sent():
    destination = check_destination("https://not-yet.example.org/hook", False)
    with pytest.raises(UnresolvedHost, match=r"not-yet\.example\.org could not be found"):
        resolve_destination(destination, False)


def test_resolving_returns_every_address_once():
    destination = parse_destination("https://mixed.example.com/", True)
    assert [str(a) for a in resolve_destination(destination, True)] == [
        PUBLIC_ADDRESS,
        "192.168.1.20",
    ]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "Enter the URL that should receive the events."),
        ("   ", "Enter the URL that should receive the events."),
        ("ftp://hooks.example.com/x", "The URL must start with https://."),
        ("javascript:alert(1)", "The URL must start with https://."),
        ("file:///etc/passwd", "The URL must start with https://."),
        ("hooks.example.com/x", "The URL must start with https://."),
        ("https://", "The URL has no host name."),
        ("https:///path", "The URL has no host name."),
        ("https://user:pw@hooks.example.com/", "must not contain a user name or password"),
        ("https://user@hooks.example.com/", "must not contain a user name or password"),
        ("https://hooks.example.com:99999/", "port is not a number from 1 to 65535"),
        ("https://hooks.example.com:http/", "port is not a number from 1 to 65535"),
        ("https://hooks.example.com/a b", "must not contain spaces or control characters"),
        ("https://hooks.example.com/\x00", "must not contain spaces or control characters"),
        ("https://hooks.example.com/\r\nX-Evil: 1", "must not contain spaces or control"),
        ("https://hooks.example.com/\x7f", "must not contain spaces or control characters"),
        ("https://240.0.0.1/", "240.0.0.1 is a reserved address."),
    ],
)
def test_malformed_urls_are_refused_saying_why(url, says):
    assert says in refusal(url)
    assert says in refusal(url, True)


def test_a_url_longer_than_the_limit_is_refused_naming_the_limit():
    url = "https://hooks.example.com/" + "a" * (MAX_URL_LENGTH - 26)
    assert len(url) == MAX_URL_LENGTH
    assert check_destination(url, False).url == url
    assert refusal(url + "a") == "The URL is too long (at most 2000 characters)."
