"""GET /docs: Swagger UI's files are cached for good under their version; the page is not."""

from __future__ import annotations

import re
from importlib import metadata

BUNDLE_VERSION = metadata.version("swagger-ui-bundle-v2")
A_YEAR = 365 * 24 * 3600


def _directives(response) -> set[str]:
    return {part.strip() for part in response.headers["Cache-Control"].split(",")}


def _loaded_by_the_page(client) -> list[str]:
    html = client.get("/docs").get_data(as_text=True)
    return re.findall(r'(?:src|href)="([^"]+)"', html)


def test_swagger_ui_files_carry_the_bundle_version_and_are_cached_for_a_year(client):
    bundle_files = [url for url in _loaded_by_the_page(client) if "/docs/assets/" in url]
    assert len(bundle_files) == 3  # stylesheet, icon, script
    for url in bundle_files:
        assert url.startswith(f"/docs/assets/{BUNDLE_VERSION}/"), url
        response = client.get(url)
        assert response.status_code == 200, url
        assert _directives(response) == {"public", f"max-age={A_YEAR}", "immutable"}, url
        assert "Pragma" not in response.headers


def test_a_file_under_another_bundle_version_is_404_and_never_cached(client):
    for url in ("/docs/assets/0.0.1/swagger-ui-bundle.js", "/docs/assets/swagger-ui-bundle.js"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.content_type == "application/problem+json"
        assert response.headers["Cache-Control"] == "no-store"


def test_the_page_is_never_cached_and_its_own_script_for_an_hour(client):
    assert client.get("/docs").headers["Cache-Control"] == "no-store"
    (initializer,) = [url for url in _loaded_by_the_page(client) if "initializer" in url]
    assert _directives(client.get(initializer)) == {"public", "max-age=3600"}
