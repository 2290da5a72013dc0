"""Do two checkouts prepare mail identically? Dump every output of one, then compare two dumps.

    python benchmarks/prepare_equivalence.py dump REPO OUT.json   # with REPO's own interpreter
    python benchmarks/prepare_equivalence.py compare A.json B.json

`dump` imports intake from REPO and records, for each input: the normalized message (every
field; attachment contents as hashes), the dedupe key, and the triage (category, priority,
private reasons, reasons, PII spans, redacted text). Inputs: 1,000 generated mails
(tests/support/gen_mail), every file under ../shared/corpus/email, the labelled folders
../shared/samples and ../shared/triage-train (through the same entry points as the
dataset reader), and a seeded set of synthetic texts full of numbers, context words and
look-alikes that goes through `detect_pii` and `redact` directly. `compare` prints each
input whose outputs differ and exits 1 if any does. Used to show that a speed-up of the
prepare step changed no output.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

SHARED = Path(os.environ.get("INTAKE_SHARED_DIR", "/work/shared"))

_WORDS = (
    "my card number is", "code", "the code is", "验证码是", "密码", "password:", "pwd", "PIN", "passport",
    "护照号码", "ID card", "身份证", "account number", "iban", "routing no", "call me on", "电话", "手机",
    "my address is", "地址是", "error code", "zip code", "order", "ref", "uh", "呃", "oh", "double five",
    "seven", "nine", "one", "二", "幺", "叉", "X", "dot", "at", "gmail dot com", "https://x.test/", "www.",
    "Lindwurmstraße 112, 80337 München", "12 Baker Street", "北京市朝阳区建国路88号", "S1234567D", "A123456(7)",
    "QQ123456C", "ABCDE1234F", "Rosegarden52", "P@ss-w0rd!", "2024-01-31", "10:30", "4,999.00", "v1.2.3",
    "acct #", "sort code", "a/c", "nric", "hkid", "ssn", "tel", "whatsapp", "one-time", "otp",
)


def _digits(rng: random.Random) -> str:
    n = rng.choice((3, 4, 6, 7, 8, 11, 13, 15, 16, 17, 18, 19))
    body = "".join(rng.choice("0123456789") for _ in range(n))
    style = rng.randrange(6)
    if style == 1:
        return " ".join(body[i : i + 4] for i in range(0, n, 4))
    if style == 2:
        return "-".join(body[i : i + 3] for i in range(0, n, 3))
    if style == 3:
        return body.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    if style == 4:
        return body.translate(str.maketrans("0123456789", "零一二三四五六七八九"))
    return body


def synthetic_texts(count: int = 3000, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        pieces = []
        for _ in range(rng.randrange(1, 30)):
            pick = rng.random()
            if pick < 0.35:
                pieces.append(_digits(rng))
            elif pick < 0.8:
                pieces.append(rng.choice(_WORDS))
            else:
                pieces.append(rng.choice(("a", "the", "\n", ",", "。", "，", " ", "hello", "账号", "号", ":", "x")))
        texts.append(rng.choice((" ", "", "\n", ", ")).join(pieces))
    return texts


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return "sha256:" + hashlib.sha256(value).hexdigest()
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, frozenset | set):
        return sorted(_plain(v) for v in value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def dump(repo: Path, out: Path) -> None:
    sys.path.insert(0, str(repo))
    work = Path(tempfile.mkdtemp())
    os.environ.setdefault("INTAKE_DATABASE_URL", f"sqlite:///{work}/x.db")
    from intake.cli.common import runtime
    from intake.failures import UserError
    from intake.process.flow import Caps, prepare_email
    from intake.triage import triage_message
    from intake.triage.dataset import read_message
    from intake.triage.privacy import detect_pii, redact
    from tests.support import gen_mail

    rt = runtime()
    caps, rules = Caps.of(rt.settings), rt.rules
    results: dict[str, Any] = {}

    def prepared(key: str, raw: bytes) -> None:
        try:
            p = prepare_email(raw, {}, rules, caps)
        except UserError as exc:
            results[key] = {"error": str(exc)}
            return
        results[key] = {"msg": _plain(p.msg), "key": p.dedupe_key, "triage": _plain(p.triage)}

    gen_mail.write_maildir(work / "md", 1000, 1, os.getuid(), os.getgid())
    raws = sorted(p.read_bytes() for p in (work / "md").glob("*/*"))  # file names hold the time
    for n, raw in enumerate(raws):
        prepared(f"gen/{n:04d}", raw)
    for path in sorted(p for p in (SHARED / "corpus" / "email").rglob("*") if p.is_file()):
        prepared(f"corpus/{path.relative_to(SHARED / 'corpus' / 'email')}", path.read_bytes())
    for folder in (SHARED / "samples", SHARED / "triage-train"):
        labels = json.loads((folder / "labels.json").read_text(encoding="utf-8"))
        for path in sorted(p for p in folder.iterdir() if p.is_file() and p.name != "labels.json"):
            channel = (labels.get(path.name) or {}).get("channel") or (
                "email" if path.name.endswith(".eml") else "voice" if path.name.startswith("voice") else "sms")
            key = f"{folder.name}/{path.name}"
            if channel == "email":
                prepared(key, path.read_bytes())
                continue
            msg = read_message(path, channel)
            results[key] = {"msg": _plain(msg), "triage": _plain(triage_message(msg, rules))}
    for n, text in enumerate(synthetic_texts()):
        spans = detect_pii(text)
        results[f"synthetic/{n}"] = {"pii": _plain(spans), "redacted": redact(text, spans)}
    out.write_text(json.dumps(results, ensure_ascii=False, sort_keys=True), encoding="utf-8")
    print(f"{len(results)} inputs -> {out}")


def compare(a: Path, b: Path) -> int:
    left = json.loads(a.read_text(encoding="utf-8"))
    right = json.loads(b.read_text(encoding="utf-8"))
    differ = 0
    for key in sorted(set(left) | set(right)):
        if left.get(key) != right.get(key):
            differ += 1
            print("DIFFERS", key)
            one, two = left.get(key) or {}, right.get(key) or {}
            for part in sorted(set(one) | set(two)):
                if one.get(part) != two.get(part):
                    print("  ", part, json.dumps(one.get(part), ensure_ascii=False)[:600])
                    print("  ", " " * len(part), json.dumps(two.get(part), ensure_ascii=False)[:600])
    print(f"{len(set(left) | set(right))} inputs, {differ} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "dump":
        dump(Path(sys.argv[2]).resolve(), Path(sys.argv[3]))
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(compare(Path(sys.argv[2]), Path(sys.argv[3])))
    else:
        sys.exit(__doc__)
