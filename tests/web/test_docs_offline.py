"""``/docs`` works on a machine without internet: the page names no other host, and every asset
it loads is served by opsbook itself from the files shipped in the package, byte for byte the
released ones (``static/vendor/swagger-ui/MANIFEST``, written by ``scripts/vendor-assets.sh``)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from opsbook.web.docs import STATIC_DIR

VENDOR = STATIC_DIR / "vendor" / "swagger-ui"
CONTENT_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


def _manifest(folder: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(``package``/``version``/``integrity`` lines, ``{file: sha256}``)."""
    fields: dict[str, str] = {}
    sums: dict[str, str] = {}
    for line in (folder / "MANIFEST").read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        key, rest = line.split(" ", 1)
        if key == "sha256":
            digest, name = rest.split(" ", 1)
            sums[name] = digest
        else:
            fields[key] = rest
    return fields, sums


def _assets(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', page)


def test_the_docs_page_names_no_other_host(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "http://" not in page and "https://" not in page, page
    assert "//cdn" not in page
    assets = _assets(page)
    assert sorted(assets) == [
        "/static/vendor/swagger-ui/favicon-32x32.png",
        "/static/vendor/swagger-ui/swagger-ui-bundle.js",
        "/static/vendor/swagger-ui/swagger-ui.css",
    ]
    assert "url: '/openapi.json'" in page
    assert '"validatorUrl": null' in page


def test_every_asset_the_page_loads_is_served_as_released(client: TestClient) -> None:
    _, sums = _manifest(VENDOR)
    for url in _assets(client.get("/docs").text):
        response = client.get(url)
        assert response.status_code == 200, url
        name = url.rsplit("/", 1)[1]
        expected_type = CONTENT_TYPES[Path(name).suffix]
        assert expected_type in response.headers["content-type"], (url, response.headers)
        assert hashlib.sha256(response.content).hexdigest() == sums[name], url
    spec = client.get("/openapi.json")
    assert spec.status_code == 200
    assert spec.json()["info"]["title"] == "opsbook"


def test_the_shipped_files_match_their_manifest() -> None:
    fields, sums = _manifest(VENDOR)
    assert fields["package"] == "swagger-ui-dist"
    assert re.fullmatch(r"\d+\.\d+\.\d+", fields["version"])
    assert fields["integrity"].startswith("sha512-")
    shipped = {p.name for p in VENDOR.iterdir()} - {"MANIFEST"}
    assert shipped == set(sums), "a file without a checksum, or a checksum without a file"
    assert {"LICENSE", "swagger-ui-bundle.js", "swagger-ui.css"} <= shipped
    for name, digest in sums.items():
        actual = hashlib.sha256((VENDOR / name).read_bytes()).hexdigest()
        assert actual == digest, (
            f"{name} differs from the released file: run scripts/vendor-assets.sh"
        )


def test_the_oauth2_redirect_page_is_served_without_other_hosts(client: TestClient) -> None:
    response = client.get("/docs/oauth2-redirect")
    assert response.status_code == 200
    assert "https://" not in response.text and "http://" not in response.text


@pytest.mark.parametrize("path", ["/redoc", "/static/nope.js", "/static/../docs.py"])
def test_what_is_not_shipped_is_404(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404
