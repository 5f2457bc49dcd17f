from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from opsbook.redaction import MASK, Secret, mask_values, redact_url

SECRET = "s3cr3t-Tok3n-xyz"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql+psycopg://postgres:pw@db:5432/app",
            "postgresql+psycopg://postgres:***@db:5432/app",
        ),
        ("postgresql://postgres@db/app", "postgresql://postgres@db/app"),
        ("redis://:pw@localhost:6379/0", "redis://***@localhost:6379/0"),
        ("https://hooks.slack.com/services/T0/B0/XYZ", "https://hooks.slack.com/services/***"),
        ("https://discord.com/api/webhooks/1/abc", "https://discord.com/api/***"),
        ("https://x.example/hook?token=abc&x=1#f", "https://x.example/hook?token=***&x=1#f"),
        ("https://x.example/a?api_key=abc", "https://x.example/a?api_key=***"),
        ("https://TOKEN@api.example.com/x", "https://***@api.example.com/x"),
        ("host=a password=secret dbname=x", "host=a password=*** dbname=x"),
        ("sqlite:///opsbook.db", "sqlite:///opsbook.db"),
        ("sqlite:////var/lib/opsbook.db", "sqlite:////var/lib/opsbook.db"),
        ("http://127.0.0.1:8081/healthz", "http://127.0.0.1:8081/healthz"),
        ("http://[::1", MASK),
    ],
)
def test_redact_url_masks_credentials_and_keeps_the_rest(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_secret_never_shows_itself() -> None:
    secret = Secret(SECRET)
    assert SECRET not in str(secret)
    assert SECRET not in repr(secret)
    assert SECRET not in f"{secret} {secret!r} {[secret]}"
    assert secret.reveal() == SECRET
    assert secret == Secret(SECRET)
    assert secret != Secret("other")


def test_secret_as_a_pydantic_field_is_masked_in_dumps_and_errors() -> None:
    class Model(BaseModel):
        token: Secret

    model = Model.model_validate({"token": SECRET})
    assert model.token.reveal() == SECRET
    assert SECRET not in repr(model)
    assert SECRET not in model.model_dump_json()
    assert model.model_dump(mode="json") == {"token": MASK}
    with pytest.raises(ValidationError) as info:
        Model.model_validate({"token": 12})
    assert "token" in str(info.value)


def test_mask_values_replaces_every_occurrence_longest_first() -> None:
    text = f"connect {SECRET} then {SECRET}-suffix and s3cr3t"
    assert mask_values(text, [SECRET, "s3cr3t"]) == f"connect {MASK} then {MASK}-suffix and {MASK}"
    assert mask_values("abc", ["ab"]) == "abc"  # too short to mask safely
