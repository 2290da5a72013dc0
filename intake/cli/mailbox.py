"""`intake mailbox check`: can intake use each mailbox as configured?

It logs in and shows the server's capabilities and namespace (RFC 2342), the folder names
intake resolves from the settings, whether each exists or can be created, where UIDNEXT
comes from, and what to set when something is wrong. It changes nothing on the server: a
missing folder is tested by creating and deleting a uniquely named sibling.
"""

from __future__ import annotations

import argparse
from typing import Any

from intake.cli.common import emit, runtime


def check_mailbox(rt: Any, box: Any) -> dict[str, Any]:
    from intake.capture.folders import MOVE_TARGETS, probe_create, resolve, server_layout, uid_next
    from intake.capture.imap import close_quietly, connect

    report: dict[str, Any] = {"name": box.name, "host": box.host, "port": box.port,
                              "user": box.user, "ok": False}
    with rt.sessions() as session:
        try:
            client = connect(rt, box, session)
        except Exception as exc:  # noqa: BLE001 - reported, with what to check
            report["problems"] = [f"cannot log in: {type(exc).__name__}: {str(exc)[:200]} "
                                  "(check the host, port, security, user and password or token "
                                  "settings of this mailbox)"]
            return report
    try:
        report["capabilities"] = sorted(c.decode() if isinstance(c, bytes) else str(c)
                                        for c in client.capabilities())
        layout = server_layout(client, special_use=True)
        report.update(namespace=layout.namespace, prefix=layout.prefix,
                      separator=layout.delimiter, special_use=layout.special)
        source = resolve(client, box, "folder", layout, create=False)
        folders = [source]
        for field_name in MOVE_TARGETS:
            folder = resolve(client, box, field_name, layout, create=False)
            if folder.name and not folder.exists and not folder.problem:
                folder = probe_create(client, folder, layout)
            folders.append(folder)
        report["folders"] = [
            {**f.report(), "can_create": bool(f.name and not f.exists and not f.problem)}
            for f in folders]
        if source.exists:
            selected = client.select_folder(source.name, readonly=True)
            value, origin = uid_next(client, source.name, selected)
            report["uidnext"] = {"value": value, "from": origin}
    finally:
        close_quietly(client)
    report["problems"] = [f.problem for f in folders if f.problem]
    report["ok"] = not report["problems"]
    return report


def _lines(report: dict[str, Any]) -> list[str]:
    lines = []
    for box in report["mailboxes"]:
        lines.append(f"mailbox {box['name']} ({box['user']}@{box['host']}:{box['port']}): "
                     f"{'usable' if box['ok'] else 'NOT usable'}")
        if "capabilities" in box:
            lines.append("  capabilities: " + " ".join(box["capabilities"]))
            lines.append(f"  personal namespace: prefix {box['prefix']!r}, separator {box['separator']!r}")
        for flag, name in (box.get("special_use") or {}).items():
            lines.append(f"  special-use {flag}: {name}")
        for folder in box.get("folders", []):
            state = ("none (mail stays in place)" if not folder["name"] else "exists" if folder["exists"]
                     else "missing, can be created" if folder["can_create"] else "missing")
            lines.append(f"  {folder['setting']}={folder['configured']!r} -> {folder['name']!r}: {state}")
        if "uidnext" in box:
            lines.append(f"  UIDNEXT {box['uidnext']['value']} (from {box['uidnext']['from']})")
        lines += [f"  problem: {p}" for p in box.get("problems", [])]
    return lines


def cmd_mailbox_check(args: argparse.Namespace) -> int:
    from intake.mailboxes import load_mailboxes

    rt = runtime()
    boxes = [b for b in load_mailboxes(rt.settings) if not args.mailbox or b.name == args.mailbox]
    report: dict[str, Any] = {"ok": bool(boxes), "mailboxes": []}
    if not boxes:
        report["problems"] = [f"no mailbox named {args.mailbox!r}" if args.mailbox else
                              "no mailbox configured: set INTAKE_IMAP_HOST or INTAKE_MAILBOXES_FILE"]
    for box in boxes:
        result = check_mailbox(rt, box)
        report["mailboxes"].append(result)
        report["ok"] = report["ok"] and result["ok"]
    if args.text:
        print("\n".join([*_lines(report), *report.get("problems", [])]))
    else:
        emit(report)
    return 0 if report["ok"] else 1
