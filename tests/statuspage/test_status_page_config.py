"""The ``status_page:`` section: accepted forms and every mistake named with file:line and key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from opsbook.config import load
from opsbook.errors import ConfigError

HEAD = """\
service: shop
components:
  api: {name: API}
  web: {name: Website}
"""


def loaded(tmp_path: Path, section: str) -> object:
    path = tmp_path / "opsbook.yaml"
    path.write_text(HEAD + textwrap.dedent(section))
    return load(str(path), environ={}).status_page


def problems(tmp_path: Path, section: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        loaded(tmp_path, section)
    return [str(p).split("opsbook.yaml:", 1)[1] for p in info.value.problems]


def test_without_the_section_every_component_is_public(tmp_path: Path) -> None:
    found = loaded(tmp_path, "")
    assert found.components is None  # type: ignore[attr-defined]
    assert found.title is None  # type: ignore[attr-defined]


def test_it_accepts_every_key(tmp_path: Path) -> None:
    found = loaded(
        tmp_path,
        """
        status_page:
          title: Shop status
          logo: https://cdn.shop.example/logo.svg
          links:
            - {label: Help, url: "https://shop.example/help"}
            - {label: Mail, url: "mailto:a@b.c"}
          timezone: Europe/Berlin
          components: [web, api]
          severities: [SEV1]
          base_url: https://status.shop.example/
          publish: {dir: out, command: "rsync -a . 'host:/srv/status page'", timeout: 30s}
        """,
    )
    assert found.base_url == "https://status.shop.example"  # type: ignore[attr-defined]
    assert found.publish.command == [  # type: ignore[attr-defined]
        "rsync",
        "-a",
        ".",
        "host:/srv/status page",
    ]


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        (
            "status_page: {components: [api, nope]}",
            "5:33: status_page.components[1]: unknown component 'nope' (known: api, web)",
        ),
        (
            "status_page: {components: [api, api]}",
            "5:33: status_page.components[1]: component 'api' is listed twice",
        ),
        (
            "status_page: {severities: [SEV7]}",
            "5:28: status_page.severities[0]: unknown severity 'SEV7' "
            "(known: SEV1, SEV2, SEV3, SEV4)",
        ),
        (
            "status_page: {timezone: Mars/Olympus}",
            "5:25: status_page.timezone: 'Mars/Olympus' is not a timezone "
            "(use an IANA name such as UTC or Europe/Berlin)",
        ),
        (
            "status_page: {base_url: status.shop.example}",
            "5:25: status_page.base_url: 'status.shop.example' is not an http:// or https:// URL",
        ),
        (
            "status_page: {logo: 'ftp://x/logo.png'}",
            "5:21: status_page.logo: 'ftp://x/logo.png' is neither a file path nor an http(s) URL",
        ),
        (
            "status_page: {links: [{label: Help, url: 'javascript:alert(1)'}]}",
            "5:42: status_page.links[0].url: 'javascript:alert(1)' is not an http://, https:// "
            "or mailto: link",
        ),
        (
            "status_page: {links: [{url: 'https://x.example'}]}",
            "5:23: status_page.links[0]: missing required key 'label'",
        ),
        (
            "status_page: {publish: {command: rsync}}",
            "5:15: status_page.publish: missing required key 'dir'",
        ),
        (
            'status_page: {publish: {dir: out, command: "rsync \'a"}}',
            "5:44: status_page.publish.command: cannot be split into arguments "
            "(No closing quotation)",
        ),
        (
            "status_page: {publish: {dir: out, command: []}}",
            "5:35: status_page.publish.command: must name a program to run",
        ),
        (
            "status_page: {publish: {dir: out, timeout: 0s}}",
            "5:44: status_page.publish.timeout: timeout must be longer than 0s",
        ),
        (
            "status_page: {titel: Shop}",
            "5:15: status_page.titel: unknown key 'titel' (did you mean 'title'?)",
        ),
    ],
)
def test_it_names_the_mistake(tmp_path: Path, section: str, problem: str) -> None:
    assert problems(tmp_path, section + "\n") == [problem]
