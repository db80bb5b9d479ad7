"""Each tenant's secrets (decision D8 of docs/plans/tenants.md): `TENANT_SECRETS`, never the
database and never the API.

TENANT_SECRETS is JSON, or the path of a file holding it, keyed by tenant slug:
    {"brand-b": {"sendgrid_webhook_public_key": "...", "twilio_auth_token": "...",
                 "secret_keys": ["...oldest", "...newest"]}}
Each entry names settings of `TenantSecrets` below, by their `Settings` names. The default
tenant keeps the flat settings (SENDGRID_WEBHOOK_PUBLIC_KEY, ...), so a single-tenant
deployment changes nothing; it has no entry here.

Another tenant's view never inherits the default tenant's provider secrets: every field below
starts from its unset value, and only the tenant's own entry fills it, so a provider the tenant
has no secret for refuses its events (as the default does when its flat secret is unset). Its
link keys are its own `secret_keys` when given, else derived from SECRET_KEYS
(service/security/tokens.py `tenant_keys`; the derivation applies to its own keys too, so its
ring never equals the keys as written here).

Error messages name the tenant and the setting, never a value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from service.settings import KNOWN_DEFAULTS, ConfigError, Settings
from service.tenants.model import DEFAULT_SLUG

# Providers whose signature does not cover the URL called: the same secret in two tenants would
# let one tenant's events be replayed to the other's URL, so it is refused at start-up. Twilio,
# Plivo and Bird sign the URL (the tenant's slug is in it), so an account shared by several
# tenants is safe with them.
UNBOUND_TO_URL = ("sendgrid_webhook_public_key", "mailgun_webhook_signing_key",
                  "postmark_webhook_header", "vonage_signature_secret")


class TenantSecrets(BaseModel):
    """What a tenant's TENANT_SECRETS entry may hold."""

    # hide_input_in_errors: a refused entry's error must not print the secret it carried
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    secret_keys: list[str] | None = Field(None, min_length=1)
    ses_sns_topic_arns: str | None = None
    sendgrid_webhook_public_key: str | None = None
    mailgun_webhook_signing_key: str | None = None
    postmark_webhook_username: str | None = None
    postmark_webhook_password: str | None = None
    postmark_webhook_header: str | None = None
    vonage_signature_secret: str | None = None
    vonage_signature_method: Literal["md5hash", "md5", "sha1", "sha256", "sha512"] | None = None
    bird_signing_key: str | None = None
    twilio_auth_token: str | None = None
    plivo_auth_token: str | None = None

    @field_validator("secret_keys")
    @classmethod
    def _strong_keys(cls, value: list[str] | None) -> list[str] | None:
        # as SECRET_KEYS in production: a guessable key would let anyone sign this tenant's links
        if value is not None and any(k in KNOWN_DEFAULTS or len(k) < 16 for k in value):
            raise ValueError("every key needs at least 16 characters")
        return value


PROVIDER_FIELDS = tuple(name for name in TenantSecrets.model_fields if name != "secret_keys")


def tenant_secrets(settings: Settings) -> Mapping[str, TenantSecrets]:
    """Every tenant's secrets by slug (read once per value of TENANT_SECRETS: a change to the
    file needs a restart, like any setting)."""
    return _parse(settings.tenant_secrets.strip())


def secrets_of(settings: Settings, slug: str | None) -> dict[str, Any]:
    """The `Settings` update that gives a non-default tenant its own secrets: every provider
    secret unset unless its entry sets it, and its link keys when it has its own."""
    update: dict[str, Any] = {name: Settings.model_fields[name].default
                              for name in PROVIDER_FIELDS}
    entry = tenant_secrets(settings).get(slug) if slug is not None else None
    if entry is not None:
        update.update(entry.model_dump(exclude_none=True))
    return update


@lru_cache(maxsize=4)
def _parse(raw: str) -> Mapping[str, TenantSecrets]:
    if not raw:
        return {}
    if not raw.startswith(("{", "[")):  # JSON starts so; a file path never does
        try:
            raw = Path(raw).read_text()
        except OSError as exc:
            raise ConfigError(f"TENANT_SECRETS: cannot read the file it names ({exc.strerror})") \
                from None
    try:
        given = json.loads(raw)
    except ValueError:
        raise ConfigError("TENANT_SECRETS is not JSON (an object keyed by tenant slug)") from None
    if not isinstance(given, dict):
        raise ConfigError("TENANT_SECRETS must be a JSON object keyed by tenant slug")
    if DEFAULT_SLUG in given:
        raise ConfigError("TENANT_SECRETS: the default tenant uses the flat settings "
                          "(SECRET_KEYS, SENDGRID_WEBHOOK_PUBLIC_KEY, ...); remove 'default'")
    parsed = {}
    for slug, entry in given.items():
        try:
            parsed[slug] = TenantSecrets.model_validate(entry)
        except ValidationError as exc:
            where = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'entry'}: {e['msg']}"
                              for e in exc.errors(include_input=False, include_url=False))
            raise ConfigError(f"TENANT_SECRETS[{slug!r}]: {where}") from None
    return parsed


def check_distinct(settings: Settings) -> None:
    """Refuse a provider secret (or SNS topic) shared by two tenants when the provider's
    signature does not name the URL: either tenant's events would verify on the other's URL."""
    holders: dict[tuple[str, str], str] = {}

    def claim(field: str, value: str | None, slug: str) -> None:
        if not value:
            return
        other = holders.setdefault((field, value), slug)
        if other != slug:
            raise ConfigError(f"TENANT_SECRETS: tenants {other!r} and {slug!r} have the same "
                              f"{field}; an event for one would be accepted for the other")

    entries: list[tuple[str, Any]] = [(DEFAULT_SLUG, settings)]
    entries += list(tenant_secrets(settings).items())
    for slug, entry in entries:
        for field in UNBOUND_TO_URL:
            claim(field, getattr(entry, field), slug)
        if entry.postmark_webhook_username and entry.postmark_webhook_password:
            claim("postmark_webhook_username and _password", f"{entry.postmark_webhook_username}"
                  f":{entry.postmark_webhook_password}", slug)
        for arn in (entry.ses_sns_topic_arns or "").split(","):
            claim("ses_sns_topic_arns", arn.strip(), slug)
