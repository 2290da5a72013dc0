"""Server-rendered pages (ops console, support form, status page): templates, language and
the headers every page carries.

Pages are Jinja2 templates under `<templates_dir>/web/` (an ops copy of the templates may
override any of them) falling back to the packaged ones, with autoescaping on. The
language is zh or en, from `?lang=` when given, else the Accept-Language header; strings
live in `web/strings.yaml`, one table per language, so a template says `{{ t("submit") }}`.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from intake.settings import DEFAULTS_DIR

LANGUAGES = ("zh", "en")
_MAX_HEADER = 512
# No script, no frames, forms only to ourselves, styles from our own stylesheet: a page
# that shows a customer's text cannot be turned into a script or a clickjacking frame.
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; style-src 'self'; img-src 'self' data:; "
                                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def language(request: Request, default: str = "en") -> str:
    """zh or en: `?lang=` first, then the best Accept-Language entry we speak (q-values
    respected; a header longer than 512 characters is cut, so parsing stays small)."""
    asked = request.query_params.get("lang", "")
    if asked in LANGUAGES:
        return asked
    best, best_q = default, -1.0
    for part in request.headers.get("accept-language", "")[:_MAX_HEADER].split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGUAGES:
            continue
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if q > best_q:
            best, best_q = primary, q
    return best


@functools.lru_cache(maxsize=8)
def _strings(path: Path) -> dict[str, dict[str, str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {lang: dict(data.get(lang) or {}) for lang in LANGUAGES}


class Pages:
    def __init__(self, templates_dir: Path) -> None:
        own, packaged = Path(templates_dir) / "web", DEFAULTS_DIR / "templates" / "web"
        loaders = [FileSystemLoader(str(own))] if own != packaged and own.is_dir() else []
        self.env = Environment(loader=ChoiceLoader([*loaders, FileSystemLoader(str(packaged))]),
                               autoescape=select_autoescape(default=True, default_for_string=True),
                               undefined=StrictUndefined)
        strings = own / "strings.yaml"
        self._strings_path = strings if strings.is_file() else packaged / "strings.yaml"

    def text(self, lang: str, key: str) -> str:
        strings = _strings(self._strings_path)
        return strings.get(lang, {}).get(key) or strings["en"].get(key) or key

    def render(self, name: str, lang: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        template = self.env.get_template(name)
        body = template.render(lang=lang, t=lambda key: self.text(lang, key), **context)
        return HTMLResponse(body, status_code=status_code, headers=SECURITY_HEADERS)
