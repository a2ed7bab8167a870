"""DSNs, the path normalizer and the template conversions (pure functions)."""

import pytest

from sentinel_sensor import normalize_path, parse_dsn
from sentinel_sensor.routes import angle_to_braces, regex_to_template


@pytest.mark.parametrize(
    "dsn, url, key",
    [
        (
            "https://e12d836b15bb49d7bbf99e64295d995b@sentry.io/42",
            "https://sentry.io/api/42/requests/",
            "e12d836b15bb49d7bbf99e64295d995b",
        ),
        (
            "http://public:secret@localhost:9000/sentry/sub/7",
            "http://localhost:9000/sentry/sub/api/7/requests/",
            "public",
        ),
        ("http://key@[::1]:8000/3", "http://[::1]:8000/api/3/requests/", "key"),
        ("https://key@host/42/", "https://host/api/42/requests/", "key"),
        ("https://key@host/42?timeout=5", "https://host/api/42/requests/", "key"),
        ("  HTTP://k_-1@h:1/p/9  ", "http://h:1/p/api/9/requests/", "k_-1"),
    ],
)
def test_dsns_give_the_batch_endpoint_and_key(dsn, url, key):
    parsed = parse_dsn(dsn)
    assert parsed.requests_url == url
    assert parsed.public_key == key


@pytest.mark.parametrize(
    "dsn",
    [
        "",
        "not a dsn",
        "https://sentry.io/42",
        "https://@sentry.io/42",
        "https://:secret@sentry.io/42",
        "https://key@/42",
        "https://key@sentry.io",
        "https://key@sentry.io/",
        "https://key@sentry.io/abc",
        "https://key@sentry.io/-1",
        "https://key@sentry.io/99999999999999999999999",
        "https://key@sentry.io:port/42",
        "https://key@sentry.io:99999/42",
        "https://ke y@sentry.io/42",
        "://key@sentry.io/42",
        "1http://key@sentry.io/42",
        "http://key@[::1/42",
    ],
)
def test_malformed_dsns_are_refused(dsn):
    with pytest.raises(ValueError):
        parse_dsn(dsn)


@pytest.mark.parametrize(
    "raw, template",
    [
        ("/v1/items/17", "/v1/items/{id}"),
        ("/v1/items/17?expand=owner#top", "/v1/items/{id}"),
        ("/v1/orders/000123/lines/4", "/v1/orders/{id}/lines/{id}"),
        ("/u/550e8400-E29B-41d4-a716-446655440000/avatar", "/u/{id}/avatar"),
        ("/blobs/507f1f77bcf86cd799439011", "/blobs/{id}"),
        ("/commits/da39a3ee5e6b4b0d3255bfef95601890afd80709", "/commits/{id}"),
        ("/customers/cus_9s6XKzkNRiz8i3", "/customers/{id}"),
        ("/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV", "/jobs/{id}"),
        ("/links/V1StGXR8_Z5jdHi6B-myT", "/links/{id}"),
        # kept: short or word-like segments, slugs, dates, versions
        ("/v1/health", "/v1/health"),
        ("/cafe/beef", "/cafe/beef"),
        ("/deadbeef", "/deadbeef"),
        ("/oauth2-callback-handler", "/oauth2-callback-handler"),
        ("/posts/hello-world-2024", "/posts/hello-world-2024"),
        ("/reports/release-2024-01-15", "/reports/release-2024-01-15"),
        ("/ab12cd34", "/ab12cd34"),
        ("/v1/items/", "/v1/items/"),
        ("", "/"),
        ("?q=1", "/"),
        ("items/5", "/items/{id}"),
    ],
)
def test_the_normalizer_replaces_identifier_segments_only(raw, template):
    assert normalize_path(raw) == template


def test_the_normalizer_cuts_to_200_characters():
    assert len(normalize_path("/" + "z" * 500)) == 200


def test_framework_rules_become_brace_templates():
    assert angle_to_braces("/v1/items/<int:item_id>") == "/v1/items/{item_id}"
    assert angle_to_braces("/f/<path:name>/<x>") == "/f/{name}/{x}"
    assert regex_to_template(r"^items/(?P<pk>[0-9]+)/$") == "items/{pk}/"
    assert regex_to_template(r"^a/(\d+)/(?P<slug>[-\w]+(?:x|y))\.json$") == "a/{id}/{slug}.json"
