"""All configuration, from the environment (and an optional `.env`)."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from service.i18n import available_languages

DEFAULT_DATA_DIR = Path("data")
DEV_SECRETS_FILE = "dev-secrets.json"
# Values that must never sign or hash anything in production.
KNOWN_DEFAULTS = {"", "change-me", "changeme", "secret", "dev", "development"}
# Days a national list's snapshot stays current: TPS/CTPS/FPS 28 (the UK regulator's
# screening window), the US National DNC 31 (the FTC's 31-day refresh), MPS 30 (DMA code).
EXTERNAL_LIST_MAX_AGE_DAYS = {"TPS": 28, "CTPS": 28, "FPS": 28, "MPS": 30, "DNC": 31}


class ConfigError(SystemExit):
    """Raised at start-up when the configuration cannot be used; carries the message."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""
    # Comma-separated, oldest first: the newest signs, all verify.
    secret_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    hash_key: str = ""
    public_base_url: str = "http://127.0.0.1:8000"

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    mail_from: str = "Preferences <preferences@localhost>"
    # Address mail clients use for the mailto: unsubscribe; the token goes into the local part
    # as `local+TOKEN@domain`. Empty: headers carry only the https link.
    unsubscribe_mailto: str = ""
    inbound_smtp_host: str = "127.0.0.1"
    inbound_smtp_port: int = 2525

    default_phone_region: str = "GB"
    confirm_max_age_days: int = 7
    # Privacy (docs/privacy.md): self-service link lifetime; retention per kind of data
    # (0 turns that kind off) and how often the retention job runs.
    privacy_link_max_age_seconds: int = 3600
    retention_opted_out_days: int = 30
    retention_ledger_pii_months: int = 24
    retention_outbox_sent_days: int = 30
    retention_interval_seconds: int = 3600
    # How often the ledger's chain heads are checkpointed (docs/privacy.md).
    ledger_checkpoint_interval_seconds: int = 3600
    bulk_max_items: int = 100_000
    max_body_bytes: int = 16 * 1024 * 1024

    # Requests per minute; 0 turns a limit off.
    rate_limit_api_per_minute: int = 600_000
    rate_limit_pages_per_minute: int = 120
    rate_limit_codes_per_minute: int = 10  # POST /o per client IP: guesses at printed codes
    api_key_cache_seconds: float = 2.0
    # How old this process's copy of the tenant table may get before it is read again (a
    # tenant changed by another process); a tenant it does not know yet is read at once.
    tenant_cache_seconds: float = 30.0

    sqlite_synchronous: Literal["NORMAL", "FULL", "EXTRA"] = "FULL"
    sqlite_busy_timeout_ms: int = 10_000
    db_pool_min: int = 2
    db_pool_max: int = 10
    redis_url: str = ""
    # PostgreSQL streaming replicas for checks and feeds (comma-separated URLs).
    database_replica_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    replica_max_lag_seconds: float = 1.0
    # After a write by an API key, that key's reads go to the primary for this long.
    read_your_writes_seconds: float = 5.0
    run_workers_in_web: bool = True
    # Mounts /bench/* routes (the raw-driver ceiling for bench/); never in production.
    bench_routes: bool = False

    # Incoming ESP webhooks (docs/webhooks.md): a provider whose secret is unset refuses all.
    # SES: comma-separated SNS topic ARNs accepted (empty: any topic, signature still checked).
    ses_sns_topic_arns: str = ""
    sendgrid_webhook_public_key: str = ""  # base64 DER, as SendGrid shows it
    sendgrid_group_topics: dict[str, str] = Field(default_factory=dict)  # asm_group_id -> topic
    mailgun_webhook_signing_key: str = ""
    mailgun_webhook_max_age_seconds: int = 900
    postmark_webhook_username: str = ""  # basic auth in the webhook URL, or:
    postmark_webhook_password: str = ""
    postmark_webhook_header: str = ""  # "Header-Name: secret value"
    # Inbound SMS from Vonage and Bird (docs/channels.md): unset refuses all.
    vonage_signature_secret: str = ""  # SMS API signed webhooks and Messages API JWTs
    # As set in the Vonage dashboard; md5hash is its (and the SDKs') default.
    vonage_signature_method: Literal["md5hash", "md5", "sha1", "sha256", "sha512"] = "md5hash"
    bird_signing_key: str = ""  # the webhook subscription's signingKey
    # Other tenants' secrets (link keys, the ESP and SMS secrets above), JSON or a file path,
    # keyed by tenant slug: service/tenants/secrets.py. Never stored in the database, and
    # left out of the settings' repr (every tenant's secrets in one string).
    tenant_secrets: str = Field("", repr=False)
    soft_bounce_limit: int = 5  # soft bounces within the window that make an address invalid
    soft_bounce_window_days: int = 30
    # An operator's choice, never a tenant's (issue 18, decision D10): a hard bounce an ESP
    # reports to one tenant also blocks the address in every other tenant, as `undeliverable`
    # with no source or time (the address is dead, whoever mailed it). Off: tenants see only
    # their own bounces, and the checks' statement is exactly the single-tenant one.
    share_hard_bounces: bool = False
    # "Stop all brands" on the preference centre (a tenant setting, off by default): one
    # objection stops every tenant of the page's controller group (service/preferences/brands.py).
    stop_all_brands: bool = False
    # Outgoing webhooks to CRMs: changes per signed POST, and the per-request timeout.
    webhook_batch_size: int = 100
    webhook_timeout_seconds: float = 10.0
    # Inbound SMS keywords (docs/channels.md): a provider whose secret is unset refuses all.
    twilio_auth_token: str = ""
    plivo_auth_token: str = ""
    # language -> {"stop"|"start"|"help": words}; every language is matched on every message,
    # so a German STOPP to any number stops. Words are matched case-, space- and
    # punctuation-insensitively (service/sms/keywords.py).
    sms_keywords: dict[str, dict[str, list[str]]] = Field(default_factory=lambda: {
        "en": {"stop": ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE",
                        "OPTOUT", "OPT OUT"],
               "start": ["START", "UNSTOP", "YES"], "help": ["HELP", "INFO"]},
        "de": {"stop": ["STOPP", "ABMELDEN"], "start": ["ANMELDEN"], "help": ["HILFE"]},
        "es": {"stop": ["ALTO", "BAJA"], "start": ["ALTA"], "help": ["AYUDA"]},
    })

    # National do-not-call lists (docs/channels.md): days a snapshot stays current, by
    # list (given names are merged over these defaults); a list past it makes marketing checks
    # on its channel answer `external_list_stale` (`block`) or only warn (`warn`).
    external_list_max_age_days: dict[str, int] = Field(
        default_factory=lambda: dict(EXTERNAL_LIST_MAX_AGE_DAYS))
    external_list_stale: Literal["block", "warn"] = "block"
    external_list_cache_seconds: float = 5.0

    org_name: str = "Example Ltd"
    org_logo_url: str = ""
    org_primary_colour: str = "#1d4ed8"
    org_privacy_url: str = ""
    org_support_contact: str = ""
    # The data controller in consent records and receipts (docs/privacy.md): postal address,
    # email (default: MAIL_FROM's address), phone, and jurisdiction (ISO 3166 country code).
    org_address: str = ""
    org_email: str = ""
    org_phone: str = ""
    org_jurisdiction: str = "GB"
    default_language: str = "en"

    @field_validator("secret_keys", "database_replica_urls", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("external_list_max_age_days", mode="after")
    @classmethod
    def _merge_list_ages(cls, value: dict[str, int]) -> dict[str, int]:
        given = {name.upper(): days for name, days in value.items()}
        bad = [name for name, days in given.items() if days < 1]
        if bad:
            raise ValueError(f"maximum ages must be at least 1 day: {', '.join(bad)}")
        return {**EXTERNAL_LIST_MAX_AGE_DAYS, **given}

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def finalize(self) -> Settings:
        """Fill development defaults, or refuse to start in production with what is missing."""
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'service.db'}"
        if self.environment == "production":
            missing = []
            if not self.secret_keys or any(k in KNOWN_DEFAULTS or len(k) < 16
                                           for k in self.secret_keys):
                missing.append("SECRET_KEYS (comma-separated, at least 16 characters each)")
            if self.hash_key in KNOWN_DEFAULTS or len(self.hash_key) < 16:
                missing.append("HASH_KEY (at least 16 characters)")
            if missing:
                raise ConfigError(
                    "Refusing to start in production: set " + " and ".join(missing) + "."
                )
            return self
        if not self.secret_keys or not self.hash_key:
            dev = _dev_secrets(self.data_dir)
            self.secret_keys = self.secret_keys or [dev["secret_key"]]
            self.hash_key = self.hash_key or dev["hash_key"]
        return self


_COLOUR = r"^#(?:[0-9a-fA-F]{3}){1,2}$"
# empty: not shown. A URL as RFC 3986 spells it, printable ASCII without spaces (an IRI is
# percent-encoded first): the same characters in every regex engine (`\S` is not).
_URL = r"^(?:https?://[!-~]+)?$"
_Days = Annotated[int, Field(ge=1, le=3650)]
_Language = Literal[available_languages()]  # a catalogue in locale/ (the schema lists them)


class TenantSettings(BaseModel):
    """What a tenant may set for itself (decision D8 of docs/plans/tenants.md): the non-secret
    settings, by their `Settings` names, each over the deployment's own value. Its view's
    settings are `Settings.model_copy(update=...)` with the ones it set. Secrets (link keys,
    ESP and SMS secrets) are never tenant settings: they are not stored in the database."""

    model_config = ConfigDict(extra="forbid")

    org_name: str | None = Field(None, min_length=1, max_length=200)
    org_logo_url: str | None = Field(None, max_length=500, pattern=_URL)
    org_primary_colour: str | None = Field(None, pattern=_COLOUR)
    org_privacy_url: str | None = Field(None, max_length=500, pattern=_URL)
    org_support_contact: str | None = Field(None, max_length=200)
    org_address: str | None = Field(None, max_length=500)
    org_email: str | None = Field(None, max_length=200)
    org_phone: str | None = Field(None, max_length=50)
    org_jurisdiction: str | None = Field(None, pattern=r"^[A-Z]{2}$")
    default_language: _Language | None = None  # type: ignore[valid-type]
    # bounded, so no value overflows the dates computed from it (100 years at most)
    retention_opted_out_days: int | None = Field(None, ge=0, le=36500)
    retention_ledger_pii_months: int | None = Field(None, ge=0, le=1200)
    soft_bounce_limit: int | None = Field(None, ge=1, le=1000)
    soft_bounce_window_days: int | None = Field(None, ge=1, le=3650)
    # all of the tenant's /v1 requests together, every key of it (0: no tenant-wide limit)
    rate_limit_api_per_minute: int | None = Field(None, ge=0, le=10**9)
    sendgrid_group_topics: dict[str, str] | None = None
    external_list_max_age_days: dict[str, _Days] | None = None
    external_list_stale: Literal["block", "warn"] | None = None
    stop_all_brands: bool | None = None

    @field_validator("external_list_max_age_days")
    @classmethod
    def _list_ages(cls, value: dict[str, int] | None) -> dict[str, int] | None:
        if value is None:
            return None
        given = {name.upper(): days for name, days in value.items()}
        bad = [name for name, days in given.items() if days < 1]
        if bad:
            raise ValueError(f"maximum ages must be at least 1 day: {', '.join(bad)}")
        return given

    def overrides(self) -> dict:
        """The settings this tenant set (and only those)."""
        return self.model_dump(exclude_unset=True, exclude_none=True)


def tenant_settings(base: Settings, overrides: Mapping[str, Any],
                    secrets: Mapping[str, Any] | None = None) -> Settings:
    """The deployment's settings as a tenant sees them: its overrides (validated by
    TenantSettings) over `base`; the lists' maximum ages name only the lists they change;
    `secrets` (service/tenants/secrets.py `secrets_of`) replace the default tenant's."""
    update = {k: v for k, v in overrides.items() if k in TenantSettings.model_fields}
    update.update(secrets or {})
    if "external_list_max_age_days" in update:
        update["external_list_max_age_days"] = {**base.external_list_max_age_days,
                                                **update["external_list_max_age_days"]}
    return base.model_copy(update=update)


def _dev_secrets(data_dir: Path) -> dict[str, str]:
    """Development secrets, generated once and kept in the data dir so links survive restarts."""
    path = data_dir / DEV_SECRETS_FILE
    if path.exists():
        return json.loads(path.read_text())
    data_dir.mkdir(parents=True, exist_ok=True)
    values = {"secret_key": secrets.token_urlsafe(32), "hash_key": secrets.token_urlsafe(32)}
    tmp = path.with_name(f".{DEV_SECRETS_FILE}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(values, fh)
    try:
        os.link(tmp, path)  # first writer wins when several workers start at once
    except FileExistsError:
        pass
    tmp.unlink(missing_ok=True)
    return json.loads(path.read_text())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings().finalize()


def log_level() -> str:
    """LOG_LEVEL (default INFO): read before the settings, since logging starts first."""
    return os.environ.get("LOG_LEVEL", "INFO").upper()
