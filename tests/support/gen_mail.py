"""Deterministic generator of realistic Chinese/English support e-mail (standard library only).

Message *i* of a seed depends only on (seed, i): `generate(7, seed=1)` is the same bytes
whether or not messages 0..6 were generated, so a small load is an exact prefix of a
large one and a test can name the message it expects.

Mix, by design: 45% English, 35% Simplified Chinese, 10% Traditional Chinese, 10% mixed;
body charsets utf-8, gb2312, gbk, big5 (legacy CJK mostly base64, a share as raw 8bit);
text/plain 40%, text/html 15%, multipart/alternative 45%; ~20% with a PNG or PDF attachment
(RFC 2231 or RFC 2047 encoded CJK file names); ~10% replies carrying In-Reply-To and
References to an earlier message of the same seed; distinct Message-IDs.

CLI (benchmarks use it too):
    python -m tests.support.gen_mail --maildir DIR --count N --seed S [--uid U --gid G]
        [--manifest FILE] [--legacy-8bit-pct P]
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import functools
import hashlib
import html
import json
import os
import quopri
import random
import socket
import struct
import sys
import zlib
from dataclasses import dataclass
from email.header import Header
from email.utils import format_datetime, formataddr
from pathlib import Path
from urllib.parse import quote

SUPPORT_ADDR = "support@example.test"
LEGACY_8BIT_PCT = 25  # share of gb2312/gbk/big5 text parts written as raw 8bit, not base64

EN_FIRST = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda",
            "David", "Elizabeth", "Olivia", "Liam", "Emma", "Noah", "Ava", "Sarah"]
EN_LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
           "Martinez", "Lopez", "Wilson", "Anderson", "Taylor", "Lee", "Clark"]
ZH_NAMES = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄勇", "周杰", "吴霞",
            "徐明", "孙丽", "马超", "朱琳", "胡军", "郭涛"]
ZH_HANT_NAMES = ["陳志明", "林美玲", "黃建國", "張淑芬", "李俊傑", "王雅婷", "吳宗翰", "劉怡君"]
EN_DOMAINS = ["example.com", "example.org", "example.net", "acme-corp.example", "globex.example"]
ZH_DOMAINS = ["example.cn", "qq.example", "163.example", "126.example", "sina.example"]
TW_DOMAINS = ["example.tw", "hinet.example", "example.com.tw"]

SUBJECTS = {
    "en": ["Cannot log in to my account", "Invoice #{n} is incorrect",
           "Refund request for order {n}", "App crashes when uploading videos",
           "Password reset email never arrives", "Duplicate charge on credit card",
           "Delivery delayed - order {n}", "Two-factor authentication not working",
           "Account locked after update", "Cancel my subscription",
           "Data export request (GDPR)", "Someone is impersonating me",
           "My live stream was banned by mistake", "Creator fund payout missing"],
    "zh": ["无法登录账户", "发票{n}金额有误", "订单{n}申请退款", "上传视频时应用闪退",
           "收不到重置密码的邮件", "重复扣款问题", "订单{n}物流延迟", "两步验证无法使用",
           "更新后账户被锁定", "取消订阅", "有人冒充我的账号", "直播被误封",
           "创作者收益没有到账", "充值的金币没有到账"],
    "zh-hant": ["無法登入帳號", "發票{n}金額錯誤", "訂單{n}申請退款", "上傳影片時程式當機",
                "收不到重設密碼的郵件", "信用卡重複扣款", "雙重驗證無法使用", "直播被誤封"],
}
SENTENCES = {
    "en": [
        "I have been trying to log in since yesterday but the app keeps saying my password is wrong.",
        "I already reset the password twice and reinstalled the app, without any luck.",
        "Could you please check what is going on with my account?",
        "The invoice I received lists three items, but we only ordered two.",
        "Please refund the difference to the original card.",
        "When I upload a video longer than three minutes the app closes without any message.",
        "This started right after the last update, version 4.2.1.",
        "I was charged twice for the same order; both transactions are on my statement.",
        "Under GDPR I would like a copy of all personal data you hold about me.",
        "My order number is {n} and the account is registered under this e-mail address.",
        "Thanks in advance for your help, and let me know if you need anything else.",
        "This is the third time I am writing about this, so I would appreciate a quick answer.",
        "Someone created an account with my photos and name and is messaging my followers.",
        "My creator fund payout for last month has not arrived in my bank account.",
    ],
    "zh": [
        "您好，我从昨天开始就无法登录账户，系统一直提示密码错误。",
        "我已经重置了两次密码，也重新安装了应用，但问题依旧。",
        "麻烦帮忙查看一下我的账户出了什么问题。",
        "今天早上收到的发票上写的是三件商品，但我们只买了两件。",
        "请将差额退回到原支付卡。",
        "上传超过三分钟的视频时，应用会直接闪退，没有任何提示。",
        "这个问题是在最近一次更新之后才出现的。",
        "同一笔订单被扣了两次款，银行账单上显示了两笔交易。",
        "我的订单号是{n}，账户注册邮箱就是这个地址。",
        "这是我第三次就这个问题来信了，希望能尽快得到答复。",
        "有人用我的照片和名字注册了账号，还在私信我的粉丝。",
        "上个月的创作者收益到现在还没有到账。",
        "先谢谢你们的帮助，如需更多信息请随时联系我。",
        "期待您的回复，谢谢！",
    ],
    "zh-hant": [
        "您好，我從昨天開始就無法登入帳號，系統一直顯示密碼錯誤。",
        "我已經重設了兩次密碼，也重新安裝了應用程式，但問題依然存在。",
        "麻煩幫忙查看一下我的帳號發生了什麼問題。",
        "同一筆訂單被扣款兩次，銀行帳單上顯示了兩筆交易。",
        "我的訂單編號是{n}，帳號註冊的信箱就是這個地址。",
        "我的直播被停權了，但我並沒有違反任何規定。",
        "先謝謝你們的協助，如需更多資訊請隨時與我聯絡。",
        "期待您的回覆，謝謝！",
    ],
    "mixed": [
        "Hi team，我的 account 在 update 之后一直 login 失败。",
        "附件是 error screenshot，请帮忙看一下 payment 为什么 failed。",
        "We tested on iOS and Android，两个平台都有同样的问题。",
        "Order {n} 的 tracking number 查不到任何信息。",
        "The live stream 一开始就被 ban 了，console 里没有报错。",
        "Please reply in English if possible，谢谢！",
    ],
}
GREETING = {"en": "Hello,", "zh": "您好：", "zh-hant": "您好：", "mixed": "Hi，"}
MAILERS = [("X-Mailer", "Microsoft Outlook 16.0"), ("User-Agent", "Mozilla Thunderbird 115.6.0"),
           ("X-Mailer", "Foxmail 7.2.25.228[cn]"), ("X-Mailer", "iPhone Mail (21D61)"),
           ("X-Mailer", "NetEase Flash Mail 2.4.1.32"), ("User-Agent", "Roundcube Webmail/1.6.5")]
ATTACHMENT_NAMES = {
    "en": ["screenshot.png", "error.png", "invoice.pdf", "receipt.pdf", "IMG_20240312_101522.png"],
    "zh": ["截图.png", "错误截图.png", "发票.pdf", "收据.pdf", "身份证扫描件.pdf"],
    "zh-hant": ["截圖.png", "錯誤畫面.png", "發票.pdf", "收據.pdf"],
}
HTML_PAGE = """<html>
<head><meta http-equiv="Content-Type" content="text/html; charset={charset}">
<style type="text/css">body {{ font-family: Arial, "Microsoft YaHei", sans-serif; }}</style></head>
<body><div dir="ltr">
{paras}
<div class="signature">{signature}</div>
{quote}
</div></body></html>
"""
_BASE_TIME = dt.datetime(2024, 3, 1, 8, 0, 0, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class MessageInfo:
    """What a generated message is, for assertions and the manifest."""

    i: int
    seed: int
    message_id: str
    in_reply_to: str | None
    parent: int | None  # index of the message this one replies to
    references: tuple[str, ...]
    subject: str
    name: str
    addr: str
    lang: str
    charset: str
    epoch: int
    text: str  # the body paragraphs, without greeting, signature and quote


def _rng(seed: int, i: int, stream: str) -> random.Random:
    return random.Random(f"intake-mail/{seed}/{i}/{stream}")


@functools.lru_cache(maxsize=4096)
def describe(i: int, seed: int = 1) -> MessageInfo:
    """The envelope of message i: sender, subject, threading, language, charset."""
    rng = _rng(seed, i, "envelope")
    epoch = int(_BASE_TIME.timestamp()) + i * 120 + rng.randint(0, 110)
    parent: MessageInfo | None = None
    if i > 0 and rng.random() < 0.10:
        parent = describe(max(0, i - 1 - int(rng.expovariate(1 / 20))), seed)
    if parent is not None:
        lang = parent.lang
    else:
        r = rng.random()
        lang = "en" if r < 0.45 else "zh" if r < 0.80 else "zh-hant" if r < 0.90 else "mixed"
    if parent is not None:
        name, addr = parent.name, parent.addr
    elif lang == "en":
        first, last = rng.choice(EN_FIRST), rng.choice(EN_LAST)
        name = f"{first} {last}"
        addr = f"{first.lower()}.{last.lower()}{rng.randint(1, 99)}@{rng.choice(EN_DOMAINS)}"
    elif lang == "zh-hant":
        name = rng.choice(ZH_HANT_NAMES)
        addr = f"user{rng.randint(1000, 99999)}@{rng.choice(TW_DOMAINS)}"
    else:
        name = rng.choice(ZH_NAMES)
        addr = f"{rng.choice(['zhang', 'wang', 'li', 'liu', 'chen'])}{rng.randint(10, 9999)}@{rng.choice(ZH_DOMAINS)}"
    charset = {
        "en": lambda: "utf-8",
        "zh": lambda: rng.choices(["utf-8", "gb2312", "gbk"], [40, 30, 30])[0],
        "zh-hant": lambda: rng.choices(["big5", "utf-8"], [60, 40])[0],
        "mixed": lambda: rng.choices(["utf-8", "gbk"], [70, 30])[0],
    }[lang]()
    order_no = str(rng.randint(100000, 999999))
    if parent is not None:
        subject = parent.subject if parent.subject.startswith("Re: ") else "Re: " + parent.subject
    else:
        pool = SUBJECTS["zh"] + SUBJECTS["en"] if lang == "mixed" else SUBJECTS[lang]
        subject = rng.choice(pool).replace("{n}", order_no)
    joiner = " " if lang == "en" else ""
    paras = [joiner.join(rng.choice(SENTENCES[lang]).replace("{n}", order_no)
                         for _ in range(rng.randint(1, 4)))
             for _ in range(rng.choices([1, 2, 3, 4, 8], [15, 35, 25, 15, 10])[0])]
    text = "\n\n".join(paras)
    try:  # gb2312 lacks some characters that gbk has; fall back like a real client would
        (subject + name + text).encode(charset)
    except UnicodeEncodeError:
        charset = "utf-8"
    domain = addr.split("@")[1]
    message_id = f"<{hashlib.sha1(f'{seed}/{i}'.encode()).hexdigest()[:20]}.{i}@{domain}>"
    references: tuple[str, ...] = ()
    if parent is not None:
        references = (parent.references + (parent.message_id,))[-10:]
    return MessageInfo(i=i, seed=seed, message_id=message_id,
                       in_reply_to=parent.message_id if parent else None,
                       parent=parent.i if parent else None, references=references,
                       subject=subject, name=name, addr=addr, lang=lang, charset=charset,
                       epoch=epoch, text=text)


def _b64(data: bytes) -> bytes:
    encoded = base64.b64encode(data)
    return b"\n".join(encoded[k:k + 76] for k in range(0, len(encoded), 76)) + b"\n"


def _png(rng: random.Random, target: int) -> bytes:
    """A valid RGB PNG of noise (incompressible, so about `target` bytes)."""
    width = 256
    height = max(4, target // (width * 3 + 1))
    rows = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", binascii.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows, 1)) + chunk(b"IEND", b""))


def _pdf(rng: random.Random, target: int) -> bytes:
    """A valid one-page PDF whose image stream is noise, about `target` bytes."""
    width = 128
    height = max(2, (target - 800) // (width * 3))
    image = rng.randbytes(width * height * 3)
    content = b"BT /F1 18 Tf 72 720 Td (Scanned document) Tj ET\nq 400 0 0 300 72 300 cm /Im1 Do Q\n"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> /XObject << /Im1 6 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"endstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB "
        b"/BitsPerComponent 8 /Length %d >>\nstream\n" % (width, height, len(image))
        + image + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _header(text: str, charset: str) -> str:
    """RFC 2047 encoded-word in the message's own charset if the text is not ASCII."""
    if text.isascii():
        return text
    return Header(text, charset).encode(maxlinelen=76)


def _text_part(subtype: str, text: str, charset: str, cte: str) -> bytes:
    data = text.encode(charset)
    if cte == "base64":
        body = _b64(data)
    elif cte == "quoted-printable":
        body = quopri.encodestring(data)
    else:  # 7bit/8bit: raw bytes, which is what old gbk/big5 mailers really send
        body = data if data.endswith(b"\n") else data + b"\n"
    return (f'Content-Type: text/{subtype}; charset="{charset}"\n'
            f"Content-Transfer-Encoding: {cte}\n\n").encode() + body


def generate(i: int, seed: int = 1, legacy_8bit_pct: int = LEGACY_8BIT_PCT) -> bytes:
    """The raw RFC 5322 bytes (LF line ends, as stored in a Maildir) of message i."""
    info = describe(i, seed)
    rng = _rng(seed, i, f"body/{legacy_8bit_pct}")
    lang, charset = info.lang, info.charset
    signature = f"{info.name}\n{info.addr}"
    if lang != "en" and rng.random() < 0.5:
        signature += "\n" + rng.choice(["发自我的手机", "Sent from my iPhone",
                                        "此邮件可能包含机密信息，如非收件人请删除。"])
    quote_lines: list[str] = []
    if info.parent is not None:
        parent = describe(info.parent, seed)
        when = format_datetime(dt.datetime.fromtimestamp(parent.epoch, dt.timezone.utc))
        quote_lines = [f"On {when}, {parent.name} <{parent.addr}> wrote:"]
        quote_lines += ["> " + line for line in parent.text.splitlines()]
    plain = f"{GREETING[lang]}\n\n{info.text}\n\n--\n{signature}\n"
    if quote_lines:
        plain += "\n" + "\n".join(quote_lines) + "\n"
    try:
        plain.encode(charset)
    except UnicodeEncodeError:  # a quoted parent in another charset
        charset = "utf-8"

    def pick_cte(text: str) -> str:
        if charset == "utf-8":
            if text.isascii():
                return rng.choice(["7bit", "quoted-printable"])
            return rng.choices(["quoted-printable", "base64", "8bit"], [40, 30, 30])[0]
        return rng.choices(["base64", "8bit"], [100 - legacy_8bit_pct, legacy_8bit_pct])[0]

    r = rng.random()
    structure = "plain" if r < 0.40 else "html" if r < 0.55 else "alternative"
    page = ""
    if structure != "plain":
        paras = "\n".join(f"<p>{html.escape(p)}</p>" for p in [GREETING[lang], *info.text.split("\n\n")])
        quote_html = ("<blockquote>" + "<br>\n".join(html.escape(x) for x in quote_lines)
                      + "</blockquote>") if quote_lines else ""
        page = HTML_PAGE.format(charset=charset, paras=paras, quote=quote_html,
                                signature=html.escape(signature).replace("\n", "<br>"))
    boundary = f"----=_Part_{seed}_{i}_{rng.randint(10**8, 10**9 - 1)}"
    if structure == "plain":
        body = _text_part("plain", plain, charset, pick_cte(plain))
    elif structure == "html":
        body = _text_part("html", page, charset, pick_cte(page))
    else:
        alt = boundary + "_alt"
        body = (f'Content-Type: multipart/alternative; boundary="{alt}"\n\n--{alt}\n').encode()
        body += _text_part("plain", plain, charset, pick_cte(plain))
        body += f"\n--{alt}\n".encode() + _text_part("html", page, charset, pick_cte(page))
        body += f"\n--{alt}--\n".encode()

    if rng.random() < 0.20:
        kind = rng.choice(["png", "pdf"])
        size = rng.randint(10 * 1024, 200 * 1024)
        data = _png(rng, size) if kind == "png" else _pdf(rng, size)
        names = ATTACHMENT_NAMES["en" if lang in ("en", "mixed") or rng.random() < 0.4 else lang]
        filename = rng.choice([n for n in names if n.endswith(kind)])
        ctype = "image/png" if kind == "png" else "application/pdf"
        if filename.isascii():
            disposition, ctype_full = f'attachment; filename="{filename}"', f'{ctype}; name="{filename}"'
        elif rng.random() < 0.5:  # RFC 2231 (Thunderbird, Apple Mail)
            disposition = f"attachment; filename*=utf-8''{quote(filename)}"
            ctype_full = f"{ctype}; name*=utf-8''{quote(filename)}"
        else:  # RFC 2047 inside quotes: not allowed, but Outlook and Foxmail do it
            encoded = Header(filename, charset).encode()
            disposition, ctype_full = f'attachment; filename="{encoded}"', f'{ctype}; name="{encoded}"'
        mime = (f'Content-Type: multipart/mixed; boundary="{boundary}"\nMIME-Version: 1.0\n\n'
                f"This is a multi-part message in MIME format.\n\n--{boundary}\n").encode()
        mime += body + (f"\n--{boundary}\nContent-Type: {ctype_full}\n"
                        f"Content-Transfer-Encoding: base64\nContent-Disposition: {disposition}\n\n"
                        ).encode() + _b64(data) + f"--{boundary}--\n".encode()
    else:
        head, _, rest = body.partition(b"\n\n")
        mime = head + b"\nMIME-Version: 1.0\n\n" + rest

    domain = info.addr.split("@")[1]
    tz = dt.timezone(dt.timedelta(hours=-5 if lang == "en" else 8))
    sent = dt.datetime.fromtimestamp(info.epoch, tz)
    received = format_datetime(dt.datetime.fromtimestamp(info.epoch + 2, dt.timezone.utc))
    queue_id = hashlib.md5(f"q{seed}/{i}".encode()).hexdigest()[:10].upper()
    headers = [
        f"Return-Path: <{info.addr}>",
        f"Delivered-To: {SUPPORT_ADDR}",
        f"Received: from mx1.{domain} (mx1.{domain} [192.0.2.{rng.randint(1, 254)}])\n"
        f"\tby mail.example.test (Postfix) with ESMTPS id {queue_id}\n"
        f"\tfor <{SUPPORT_ADDR}>; {received}",
        f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=s2024;\n"
        f"\tt={info.epoch}; h=from:to:subject:date:message-id:mime-version;\n"
        f"\tbh={base64.b64encode(rng.randbytes(32)).decode()};\n"
        f"\tb={base64.b64encode(rng.randbytes(192)).decode()}",
        f"Authentication-Results: mail.example.test; dkim=pass header.d={domain};\n"
        f"\tspf=pass smtp.mailfrom={domain}",
        f"Message-ID: {info.message_id}",
        f"Date: {format_datetime(sent)}",
        "From: " + (formataddr((info.name, info.addr)) if info.name.isascii()
                    else f"{Header(info.name, charset).encode()} <{info.addr}>"),
        f"To: Support <{SUPPORT_ADDR}>",
        f"Subject: {_header(info.subject, charset)}",
    ]
    if info.in_reply_to is not None:
        headers.append(f"In-Reply-To: {info.in_reply_to}")
        headers.append("References: " + "\n\t".join(info.references))
    mailer, value = rng.choice(MAILERS)
    headers.append(f"{mailer}: {value}")
    if lang != "en":
        headers.append("Content-Language: " + ("zh-TW" if lang == "zh-hant" else "zh-CN"))
    return ("\n".join(headers) + "\n").encode("ascii") + mime


def maildir_name(raw: bytes, i: int, seed: int, epoch: int, tag: str = "") -> str:
    """A Maildir file name. Dovecot gives new files UIDs in the order of the leading time
    stamp, so in a fresh mailbox message i gets UID i + 1."""
    host = socket.gethostname().replace("/", "_").replace(":", "_") or "intake"
    vsize = len(raw) + raw.count(b"\n")  # size with CRLF line ends, as IMAP sees it
    return f"{epoch}.M{i:06d}S{seed}{tag}P{os.getpid()}.{host},S={len(raw)},W={vsize}"


def write_maildir(directory: str | os.PathLike[str], n: int, seed: int = 1,
                  uid: int | None = None, gid: int | None = None, start: int = 0,
                  legacy_8bit_pct: int = LEGACY_8BIT_PCT) -> list[MessageInfo]:
    """Deliver messages start..start+n-1 into a Maildir (tmp/ then rename into new/)."""
    root = Path(directory)
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
        if uid is not None:
            os.chown(root / sub, uid, gid if gid is not None else -1)
    if uid is not None:
        os.chown(root, uid, gid if gid is not None else -1)
    tag = hashlib.sha1(os.urandom(8)).hexdigest()[:6]  # a second load never collides
    infos = []
    for i in range(start, start + n):
        raw = generate(i, seed, legacy_8bit_pct)
        info = describe(i, seed)
        name = maildir_name(raw, i, seed, info.epoch, tag)
        tmp = root / "tmp" / name
        tmp.write_bytes(raw)
        if uid is not None:
            os.chown(tmp, uid, gid if gid is not None else -1)
        os.utime(tmp, (info.epoch, info.epoch))
        os.rename(tmp, root / "new" / name)
        infos.append(info)
    return infos


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--maildir", required=True, help="Maildir root (new/ cur/ tmp/ are created)")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", type=int, default=0, help="index of the first message")
    parser.add_argument("--uid", type=int)
    parser.add_argument("--gid", type=int)
    parser.add_argument("--legacy-8bit-pct", type=int, default=LEGACY_8BIT_PCT)
    parser.add_argument("--manifest", help="write a JSON manifest (message ids, threading)")
    args = parser.parse_args(argv)
    infos = write_maildir(args.maildir, args.count, args.seed, args.uid, args.gid, args.start,
                          args.legacy_8bit_pct)
    charsets: dict[str, int] = {}
    for info in infos:
        charsets[info.charset] = charsets.get(info.charset, 0) + 1
    summary = {"count": len(infos), "seed": args.seed, "start": args.start,
               "replies": sum(info.in_reply_to is not None for info in infos),
               "charsets": charsets}
    if args.manifest:
        with open(args.manifest, "w", encoding="utf-8") as fh:
            json.dump({"summary": summary,
                       "messages": [{"i": x.i, "message_id": x.message_id,
                                     "in_reply_to": x.in_reply_to, "lang": x.lang,
                                     "charset": x.charset, "subject": x.subject} for x in infos]},
                      fh, ensure_ascii=False)
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
