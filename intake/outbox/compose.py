"""Compose follow-ups from the Jinja2 templates in intake/defaults/templates (INTAKE_TEMPLATES_DIR).

    {kind}.{lang}.subject.txt   the generic subject line (used alone for private tickets)
    {kind}.{lang}.email.txt     plain-text part
    {kind}.{lang}.email.html    HTML part (autoescaped)
    {kind}.{lang}.sms.txt       SMS body; rendered at `detail` 2, 1, 0 until it fits
    departments.yaml            human department names per language

kind: ack | status | reply | status_query; lang: zh | en.

Pure: values in, text out. The subject *structure* (`Re: <their subject> [TK-XXXXXX]`) is
built here, not in templates, because threading depends on it (store.REF_RE).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import yaml

from intake.channels.sms import MAX_SEGMENTS, sms_size
from intake.channels.smtp import clean_header

if TYPE_CHECKING:
    from intake.runtime import Runtime

KINDS = ("ack", "status", "reply", "status_query")
LANGUAGES = ("zh", "en")

STATUS_NAMES = {
    "en": {"open": "open", "pending": "pending", "resolved": "resolved", "closed": "closed"},
    "zh": {"open": "处理中", "pending": "等待中", "resolved": "已解决", "closed": "已关闭"},
}

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]{2,}")
_NOISE = re.compile(r"https?://\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\b\w*[\d_]\w*\b", re.ASCII)
# Reply / forward prefixes, English and Chinese, so "Re: Re: 回复: x" becomes "x".
_PREFIX = re.compile(r"^\s*(?:(?:re|fw|fwd|aw|sv|回复|回覆|答复|转发|轉寄)\s*(?:\[\d+\])?\s*[:：]\s*)+",
                     re.IGNORECASE)
_REF = re.compile(r"\[?\s*TK-[0-9A-HJKMNP-TV-Z]{6}\s*\]?", re.IGNORECASE)


class TemplateError(Exception):
    """A template is missing or broken; names the file."""


def choose_language(ticket_language: str, contact_language: str = "unknown", text: str = "") -> str:
    """zh or en for a follow-up.

    zh and en tickets get their language. A mixed ticket gets zh when the sender wrote
    mostly Chinese (a Chinese character counts as two-thirds of a word, like triage), en
    when mostly English; with no text to look at, the contact's last known language,
    else zh (mixed always contains Chinese). Unknown: the contact's language, else en.
    """
    if ticket_language in LANGUAGES:
        return ticket_language
    if ticket_language == "mixed":
        cleaned = _NOISE.sub(" ", text or "")
        cjk = len(_CJK.findall(cleaned)) / 1.5
        latin = len(_LATIN_WORD.findall(cleaned))
        if cjk or latin:
            return "zh" if cjk >= latin else "en"
        return contact_language if contact_language in LANGUAGES else "zh"
    return contact_language if contact_language in LANGUAGES else "en"


def response_time(due_at: dt.datetime | None, now: dt.datetime, lang: str) -> str:
    """"within 4 hours" / "在4小时内" from the ticket's first-response target.

    Rounded up, after a small allowance so a 4 h target measured a few ms after the
    ticket was opened still reads "4 hours"."""
    if due_at is None:
        return "as soon as possible" if lang == "en" else "尽快"
    seconds = (due_at - now).total_seconds()
    if seconds <= 0:
        return "as soon as possible" if lang == "en" else "尽快"
    if seconds <= 3600 + 30:
        minutes = max(5, 5 * math.ceil((seconds - 30) / 300))
        if minutes >= 60:
            return "within 1 hour" if lang == "en" else "在1小时内"
        return f"within {minutes} minutes" if lang == "en" else f"在{minutes}分钟内"
    hours = max(1, math.ceil((seconds - 120) / 3600))
    if hours <= 24:
        unit = "hour" if hours == 1 else "hours"
        return f"within {hours} {unit}" if lang == "en" else f"在{hours}小时内"
    days = math.ceil((seconds - 120) / 86400)
    return f"within {days} days" if lang == "en" else f"在{days}天内"


def clean_subject(subject: str, limit: int = 200) -> str:
    """Their subject without reply prefixes, ticket refs and control characters."""
    text = clean_header(subject, 2000)
    text = _PREFIX.sub("", text)
    text = _REF.sub(" ", text)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def email_subject(their_subject: str, ref: str, generic: str, private: bool) -> str:
    """`Re: <their subject> [TK-XXXXXX]`; `Re: [TK-XXXXXX] <generic line>` for a private
    ticket (never their words) or when they gave no subject."""
    base = "" if private else clean_subject(their_subject)
    if not base:
        return clean_header(f"Re: [{ref}] {generic}")
    return clean_header(f"Re: {base} [{ref}]")


@dataclass(frozen=True)
class Composed:
    subject: str
    text: str
    html: str | None = None
    truncated: bool = False  # an SMS whose agent text had to be shortened
    segments: int = 0


@dataclass
class Composer:
    """Templates loaded once per runtime (rt.cached): what the start-up check (`check`)
    loaded is what is used until the process restarts. Jinja's default would look at each
    file's modification time on every use (four stat calls per acknowledgement) and pick up
    an edit that no check has seen."""

    directory: Path
    env: jinja2.Environment = field(init=False)
    departments: dict[str, dict[str, str]] = field(init=False)

    def __post_init__(self) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(self.directory)),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
            undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
            keep_trailing_newline=False, auto_reload=False,
        )
        path = self.directory / "departments.yaml"
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
        except (OSError, yaml.YAMLError) as exc:
            raise TemplateError(f"{path}: {exc}") from None
        self.departments = {str(k): {str(a): str(b) for a, b in (v or {}).items()}
                            for k, v in (data or {}).get("departments", {}).items()}

    def check(self) -> None:
        """Load every template now (start-up check): a missing one names itself."""
        for kind in KINDS:
            for lang in LANGUAGES:
                for part in ("subject.txt", "email.txt", "email.html", "sms.txt"):
                    self._template(f"{kind}.{lang}.{part}")

    def department_name(self, department: str, lang: str) -> str:
        names = self.departments.get(department, {})
        if lang in names:
            return names[lang]
        return names.get("en") or department.replace("_", " ").title()

    def status_name(self, status: str, lang: str) -> str:
        return STATUS_NAMES.get(lang, STATUS_NAMES["en"]).get(status, status)

    def _template(self, name: str) -> jinja2.Template:
        try:
            return self.env.get_template(name)
        except jinja2.TemplateNotFound:
            raise TemplateError(f"template {self.directory / name} is missing") from None
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"template {self.directory / name}:{exc.lineno}: {exc.message}") from None

    def _render(self, name: str, context: dict[str, Any]) -> str:
        return self._template(name).render(**context).strip()

    def email(self, kind: str, lang: str, context: dict[str, Any], their_subject: str) -> Composed:
        context = {"channel": "email", "lang": lang, "status_url": None, **context}
        if "text" in context:
            paragraphs = [block.split("\n") for block in str(context["text"]).replace("\r", "").split("\n\n")]
            context["paragraphs"] = [[line for line in p] for p in paragraphs if any(x.strip() for x in p)]
        generic = " ".join(self._render(f"{kind}.{lang}.subject.txt", context).split())
        subject = email_subject(their_subject, context["ref"], generic, bool(context.get("private")))
        text = _tidy(self._render(f"{kind}.{lang}.email.txt", context)) + "\n"
        html = self._render(f"{kind}.{lang}.email.html", context) + "\n"
        return Composed(subject=subject, text=text, html=html)

    def sms(self, kind: str, lang: str, context: dict[str, Any]) -> Composed:
        """The fullest variant that fits in two segments. The ref is in every variant (the
        templates' job; checked here). An agent's text that still does not fit is cut
        with an ellipsis (flagged `truncated`), never the ref."""
        context = {"channel": "sms", "lang": lang, "status_url": None, **context}
        name = f"{kind}.{lang}.sms.txt"
        body = ""
        for detail in (2, 1, 0):
            body = _one_line_blocks(self._render(name, {**context, "detail": detail}))
            if sms_size(body).fits:
                return self._checked(body, context, False)
        text = str(context.get("text") or "")
        if text:
            # Keep the longest start of the agent's words with which the rest still fits.
            def render(cut: str) -> str:
                return _one_line_blocks(self._render(name, {**context, "detail": 0, "text": cut}))

            low, high = 0, len(text)
            while low < high:
                middle = (low + high + 1) // 2
                if sms_size(render(text[:middle].rstrip() + "…")).fits:
                    low = middle
                else:
                    high = middle - 1
            body = render(text[:low].rstrip() + "…")
            if sms_size(body).fits:
                return self._checked(body, context, True)
        if context.get("status_url"):  # a long INTAKE_PUBLIC_URL: the SMS goes without its link
            return self.sms(kind, lang, {**context, "status_url": None})
        raise TemplateError(f"{name}: even the shortest variant needs {sms_size(body).segments} "
                            f"SMS segments (at most {MAX_SEGMENTS})")

    @staticmethod
    def _checked(body: str, context: dict[str, Any], truncated: bool) -> Composed:
        for ref in [context.get("ref"), *[t["ref"] for t in context.get("tickets", [])]]:
            if ref and ref not in body:
                raise TemplateError(f"SMS template dropped the ticket reference {ref}")
        return Composed(subject="", text=body, truncated=truncated, segments=sms_size(body).segments)


def _tidy(text: str) -> str:
    # At most one blank line in a row: optional template blocks leave gaps otherwise.
    return re.sub(r"\n{3,}", "\n\n", text)


def _one_line_blocks(text: str) -> str:
    """SMS bodies: template lines joined; blank lines kept as one newline."""
    lines = [line.strip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line:
            out.append(line)
    return "\n".join(out)


def composer_for(rt: "Runtime") -> Composer:
    return rt.cached("replies.composer", lambda: Composer(Path(rt.settings.templates_dir)))  # type: ignore[no-any-return]
