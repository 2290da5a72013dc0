"""Configuration: read once from the environment (prefix INTAKE_) and `.env` into a typed object.

Every key is documented in the README's configuration table. A missing or contradictory
setting stops start-up with a message that names it (`SettingsError`).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The default triage rules, reply templates and voice menu ship inside the package, so a
# wheel install (and the Docker image) runs without a checkout; ops point the INTAKE_*
# settings at their own copies to change them without a release.
DEFAULTS_DIR = Path(__file__).resolve().parent / "defaults"


class SettingsError(Exception):
    """A configuration value is missing or contradictory; the message names the key."""


def _twilio(name: str) -> AliasChoices:
    # Twilio's own variable names are accepted as well as the INTAKE_ ones, because ops
    # already have TWILIO_AUTH_TOKEN etc. in their secret stores.
    return AliasChoices(f"INTAKE_{name}", name)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="INTAKE_", env_file=".env", env_file_encoding="utf-8", extra="ignore",
        populate_by_name=True,
    )

    # -- storage ---------------------------------------------------------------------------
    data_dir: Path = Path("./var")
    database_url: str = ""  # default: sqlite file under data_dir
    broker_url: str = ""  # default: kombu filesystem transport under data_dir (no server)
    encryption_key: str = ""  # comma-separated Fernet keys, newest first; default: data_dir/secret.key
    triage_config: Path = DEFAULTS_DIR / "triage.yaml"
    templates_dir: Path = DEFAULTS_DIR / "templates"
    voice_config: Path = DEFAULTS_DIR / "voice.yaml"
    mailboxes_file: Path | None = None

    # -- the default IMAP mailbox ----------------------------------------------------------
    imap_host: str = ""
    imap_port: int = 0  # 0: 993 for ssl, 143 otherwise
    imap_user: str = ""
    imap_password: str = ""
    imap_security: Literal["ssl", "starttls", "none"] = "ssl"
    imap_tls_verify: bool = True
    imap_auth: Literal["password", "xoauth2"] = "password"
    imap_oauth_token: str = ""
    imap_oauth_token_command: str = ""
    imap_folder: str = "INBOX"
    imap_processed_folder: str = "Processed"
    imap_quarantine_folder: str = "Quarantine"
    imap_department: str = ""
    imap_start: str = "now"  # now | all | since:YYYY-MM-DD
    imap_timeout: float = 30.0
    imap_batch_size: int = 100
    max_message_bytes: int = 25 * 1024 * 1024
    poll_interval: float = 30.0
    lease_seconds: float = 120.0

    # -- processing --------------------------------------------------------------------------
    process_max_attempts: int = 5
    # Worker guards: a task past the soft limit gets SoftTimeLimitExceeded (recorded as
    # `time_limit`), past the hard one its pool process is killed; a pool process whose
    # resident memory passed the ceiling is replaced after its task (0: no ceiling).
    task_soft_time_limit: float = 120.0
    task_time_limit: float = 180.0
    worker_max_memory_mb: int = 1024
    sweep_interval: float = 60.0
    stale_after: float = 300.0
    sms_thread_window_hours: float = 72.0
    max_media_bytes: int = 5 * 1024 * 1024
    transcription_timeout: float = 600.0
    missed_call_tickets: bool = False
    # Where a voicemail's text comes from (intake/process/transcription.py): Twilio's
    # real-time <Start><Transcription> in the caller's language, <Record transcribe>
    # (English only), or nothing (an agent listens to the recording).
    voice_transcription: Literal["twilio-realtime", "twilio-recording", "none"] = "twilio-realtime"
    transcript_max_events: int = 1_000  # real-time transcription callbacks read per call
    transcript_max_chars: int = 20_000  # characters of one call's assembled transcript

    # -- web / Twilio ------------------------------------------------------------------------
    public_url: str = ""
    trust_proxy: bool = False
    max_webhook_bytes: int = 64 * 1024
    twilio_account_sid: str = Field("", validation_alias=_twilio("TWILIO_ACCOUNT_SID"))
    twilio_auth_token: str = Field("", validation_alias=_twilio("TWILIO_AUTH_TOKEN"))
    twilio_from_number: str = Field("", validation_alias=_twilio("TWILIO_FROM_NUMBER"))
    twilio_messaging_service_sid: str = Field(
        "", validation_alias=_twilio("TWILIO_MESSAGING_SERVICE_SID"))
    twilio_api_base: str = ""  # e.g. a local stand-in for tests; default api.twilio.com

    # -- support form, app endpoint, status links (intake/web/support.py, app_intake.py,
    # status.py) ---------------------------------------------------------------------------
    web_max_screenshots: int = 5
    web_max_screenshot_bytes: int = 5 * 1024 * 1024  # one screenshot
    web_max_text_chars: int = 20_000  # the description
    web_max_image_pixels: int = 25_000_000  # width x height of one screenshot (bombs)
    web_rate_per_address_per_hour: int = 20  # submissions per client address
    web_rate_per_contact_per_hour: int = 5  # submissions per e-mail address / number
    # App keys: "id:secret,id2:secret2" (comma-separated; two ids during a rotation).
    app_keys: str = ""
    app_replay_window_seconds: int = 300
    status_link_days: int = 30

    # -- follow-ups ------------------------------------------------------------------------
    email_backend: Literal["smtp", "file", "console"] = "file"
    sms_backend: Literal["twilio", "file", "console"] = "file"
    outbox_dir: Path | None = None  # default data_dir/outbox
    smtp_host: str = ""
    smtp_port: int = 0
    smtp_security: Literal["ssl", "starttls", "none"] = "starttls"
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_timeout: float = 30.0
    mail_domain: str = "intake.invalid"
    from_address: str = ""  # default: the mailbox the mail came to
    our_addresses: str = ""  # comma-separated extra addresses of ours (loop guard)
    ack_limit_per_hour: int = 3  # per mailbox (case, plus-tags and Gmail dots folded)
    ack_limit_per_domain_per_hour: int = 100
    send_max_attempts: int = 8
    send_deadline_seconds: float = 6 * 3600.0

    # -- retention (STYLE 17) ------------------------------------------------------------------
    # Closed tickets (and their raw input and follow-ups) are purged this many days after
    # they closed; private ones on the shorter limit. Beat runs the purge every
    # INTAKE_PURGE_INTERVAL seconds; `intake purge --dry-run` shows what would go.
    retention_days: int = Field(365, ge=1)
    private_retention_days: int = Field(90, ge=1)
    purge_interval: float = Field(3600.0, gt=0)
    # Worker processes add their task durations to the database at most this often
    # (seconds; 0: after every task) for /metrics.
    task_metrics_flush_seconds: float = Field(5.0, ge=0)

    # -- ops -------------------------------------------------------------------------------
    log_level: str = "INFO"
    web_host: str = "127.0.0.1"
    web_port: int = 8000

    # -- cost caps (STYLE 16) ----------------------------------------------------------------
    # The pure steps take these as keyword arguments (`intake.normalize.email.MailLimits`,
    # `triage_message(max_scored_chars=...)`); their defaults there are the same numbers,
    # and tests/unit/normalize/test_hostile.py checks that they agree. Processing, reprocess
    # and `intake classify` pass them in through `intake.process.flow.Caps.of(settings)`.
    mail_max_parts: int = 1_000
    mail_max_attachments: int = 100
    mail_max_header_chars: int = 8_192
    mail_max_nesting: int = 40
    html_max_quote_depth: int = 10
    html_max_text_chars: int = 1_000_000
    triage_max_scored_chars: int = 20_000

    @field_validator("imap_start")
    @classmethod
    def _check_start(cls, value: str) -> str:
        if value in ("now", "all"):
            return value
        match = re.fullmatch(r"since:(\d{4}-\d{2}-\d{2})", value)
        if not match:
            raise ValueError("must be 'now', 'all' or 'since:YYYY-MM-DD'")
        dt.date.fromisoformat(match.group(1))
        return value

    @model_validator(mode="after")
    def _defaults(self) -> "Settings":
        self.data_dir = self.data_dir.expanduser()
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'intake.db').resolve()}"
        if not self.broker_url:
            self.broker_url = "filesystem://"
        if self.outbox_dir is None:
            self.outbox_dir = self.data_dir / "outbox"
        if self.imap_auth == "xoauth2" and not (self.imap_oauth_token or self.imap_oauth_token_command):
            raise ValueError(
                "INTAKE_IMAP_AUTH=xoauth2 needs INTAKE_IMAP_OAUTH_TOKEN or INTAKE_IMAP_OAUTH_TOKEN_COMMAND")
        if not 0 < self.task_soft_time_limit < self.task_time_limit:
            raise ValueError("INTAKE_TASK_SOFT_TIME_LIMIT must be above 0 and below INTAKE_TASK_TIME_LIMIT")
        if self.private_retention_days > self.retention_days:
            raise ValueError("INTAKE_PRIVATE_RETENTION_DAYS must not be above INTAKE_RETENTION_DAYS "
                             "(private tickets are kept for the shorter time)")
        if self.process_max_attempts < 1:
            raise ValueError("INTAKE_PROCESS_MAX_ATTEMPTS must be at least 1")
        if self.email_backend == "smtp" and not self.smtp_host:
            raise ValueError("INTAKE_EMAIL_BACKEND=smtp needs INTAKE_SMTP_HOST")
        if self.sms_backend == "twilio" and not (
                self.twilio_account_sid and self.twilio_auth_token
                and (self.twilio_from_number or self.twilio_messaging_service_sid)):
            raise ValueError(
                "INTAKE_SMS_BACKEND=twilio needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and "
                "TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID")
        return self

    @property
    def twilio_auth_tokens(self) -> list[str]:
        """All accepted auth tokens (comma-separated during a rotation), primary first."""
        return [t.strip() for t in self.twilio_auth_token.split(",") if t.strip()]

    @property
    def process_lease(self) -> float:
        """How long a claim on an inbox row protects it: past the hard time limit the
        worker that held it is gone (killed by its pool), so the row may be taken again."""
        return self.task_time_limit + 10.0

    @property
    def web_max_body_bytes(self) -> int:
        """The largest support-form or app request read: the screenshots (base64 in the
        app's JSON: 4/3 of the bytes) plus 256 KiB for the fields."""
        return self.web_max_screenshots * self.web_max_screenshot_bytes * 4 // 3 + 256 * 1024

    def app_key_map(self) -> dict[str, str]:
        """INTAKE_APP_KEYS as {key id: secret}; SettingsError names a malformed entry."""
        keys: dict[str, str] = {}
        for entry in (e.strip() for e in self.app_keys.split(",")):
            if not entry:
                continue
            key_id, _, secret = entry.partition(":")
            if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", key_id) or len(secret) < 16:
                raise SettingsError("INTAKE_APP_KEYS: each entry is id:secret (id of letters, digits, "
                                    "_ . -; secret of at least 16 characters)")
            keys[key_id] = secret
        return keys

    def our_address_set(self) -> frozenset[str]:
        return frozenset(a.strip().lower() for a in self.our_addresses.split(",") if a.strip())

    # -- webhook and media hardening (privacy issue: SSRF, host trust) -----------------------
    # Hosts a MediaUrl / RecordingUrl may name (comma-separated; "*.example.com" matches any
    # subdomain). Only HTTPS on port 443 to globally routable addresses; the origin of
    # INTAKE_TWILIO_API_BASE (a stand-in, an egress proxy) is trusted as Twilio as well.
    media_hosts: str = "api.twilio.com,*.twilio.com"
    # Hosts Twilio's redirect from a media URL may lead to: its CDN (mms.twiliocdn.com when
    # "Enforce HTTP Auth on Media URLs" is on, s3-external-1.amazonaws.com for media stored
    # without it; Twilio support article 223183748). Every hop is checked again.
    media_redirect_hosts: str = "*.twilio.com,*.twiliocdn.com,s3-external-1.amazonaws.com"
    media_deadline_seconds: float = 30.0  # one download, all hops and every byte
    # Development only: without INTAKE_PUBLIC_URL, check signatures against the URL of the
    # request itself, for requests from loopback only. Off: Twilio routes answer 503.
    dev_trust_request_url: bool = False


def load_settings(**overrides: object) -> Settings:
    """Read settings; turn pydantic's validation error into one message naming each key."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = "_".join(str(p) for p in error["loc"]).upper()
            key = f"INTAKE_{loc}" if loc else "settings"
            problems.append(f"{key}: {error['msg']}")
        raise SettingsError("invalid configuration: " + "; ".join(problems)) from None


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
