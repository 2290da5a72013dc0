"""A private Dovecot IMAP server on loopback, started and stopped by the tests themselves.

Its own config, certificate, passwd-file, Maildirs and logs live in one run directory; it
never touches /etc/dovecot or the distribution service. Plain IMAP (with STARTTLS) and
IMAPS listen on free 127.0.0.1 ports. The master runs in the foreground as our child
(`dovecot -F`) and dies with the test process, so a killed test run leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from imapclient import IMAPClient

from tests.support import gen_mail
from tests.support.ports import (LOOPBACK, free_port, make_run_dir, spawn_foreground, stop_process,
                                 wait_for_port)

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = REPO_ROOT / "scripts" / "install-test-services.sh"
MAIL_OS_USER = "intakemail"  # owns the Maildirs; a system account with no login
DEFAULT_USERS = {"support@example.test": "secret", "finance@example.test": "secret"}
BOX_DOMAIN = "box.example.test"  # every user@BOX_DOMAIN exists, password BOX_PASSWORD
BOX_PASSWORD = "secret"
INDEX_FILES = ("dovecot-uidlist", "dovecot.index", "dovecot.index.log", "dovecot.index.log.2",
               "dovecot.index.cache", "dovecot.list.index", "dovecot.list.index.log",
               "dovecot.list.index.log.2")

Security = Literal["none", "starttls", "ssl"]


class DovecotError(RuntimeError):
    """Dovecot could not be installed, configured or started; the message says which."""


_SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin", "/sbin", "/bin"])


def _bin(name: str) -> str:
    """Full path of a system binary; /usr/sbin may be missing from a CI job's PATH."""
    return shutil.which(name, path=_SBIN_PATH) or name


def _run(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    argv = [_bin(argv[0]), *argv[1:]]
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, check=False)


def ensure_installed() -> None:
    """Install dovecot-imapd/dovecot-core (via scripts/install-test-services.sh) if missing."""
    if shutil.which("dovecot", path=_SBIN_PATH) and shutil.which("doveadm", path=_SBIN_PATH):
        return
    if not INSTALL_SCRIPT.exists():
        raise DovecotError(f"dovecot is not installed and {INSTALL_SCRIPT} is missing")
    result = _run(["bash", str(INSTALL_SCRIPT)], timeout=600)
    if result.returncode != 0 or not shutil.which("dovecot", path=_SBIN_PATH):
        raise DovecotError(
            "dovecot is not installed and scripts/install-test-services.sh could not install it "
            f"(exit {result.returncode}); install it with `apt-get install dovecot-imapd "
            f"dovecot-core` as root.\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


def _ensure_os_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    if os.geteuid() != 0:
        raise DovecotError(f"system user {name!r} is missing and only root can create it")
    result = _run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                   "--shell", "/usr/sbin/nologin", name])
    try:  # a concurrent test session may have created it in the meantime: fine
        return pwd.getpwnam(name)
    except KeyError:
        raise DovecotError(f"useradd {name} failed: {result.stderr.strip()}") from None


def _self_signed_cert(cert_path: Path, key_path: Path) -> None:
    """A certificate for CN=localhost with SANs localhost and 127.0.0.1, so clients can verify
    it properly (cafile=cert_path) instead of switching verification off."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(LOOPBACK))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)


class Dovecot:
    """One private Dovecot instance. `start()`, then use the helpers, then `stop()`."""

    def __init__(self, run_dir: str | os.PathLike[str] | None = None,
                 users: dict[str, str] | None = None, *, prefix: str | None = None,
                 separator: str = ".", special_use: dict[str, str] | None = None,
                 capabilities: str | None = None) -> None:
        """The default is Dovecot's own layout (personal namespace prefix "", separator
        "."). Variants, to test servers as they are:

        prefix="INBOX."      Courier-IMAP's (and stock Cyrus's) layout: every folder lives
                             under INBOX., and CREATE of a name outside it fails
        special_use          {folder: flag}, e.g. {"Archive": "\\Archive"} (RFC 6154),
                             folders created on first login
        capabilities         the explicit capability list (Dovecot `imap_capability`),
                             e.g. without MOVE to exercise COPY + UID EXPUNGE
        """
        self._own_dir = run_dir is None
        self.run_dir = Path(run_dir or make_run_dir("intake-dovecot-"))
        self.conf = self.run_dir / "dovecot.conf"
        self.passwd_file = self.run_dir / "passwd"
        self.cert_path = self.run_dir / "cert.pem"
        self.key_path = self.run_dir / "key.pem"
        self.home_root = self.run_dir / "home"
        self.log_path = self.run_dir / "dovecot.log"
        self.host = LOOPBACK
        self.port = 0
        self.tls_port = 0
        self.users: dict[str, str] = dict(users or DEFAULT_USERS)
        self._users_lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._box_counter = 0
        self._token = secrets.token_hex(6)  # in the greeting: tells our server from another
        self.uid = self.gid = -1
        self.prefix = prefix
        self.separator = separator
        self.special_use = dict(special_use or {})
        self.capabilities = capabilities

    # -- life cycle ---------------------------------------------------------------------
    def start(self) -> Dovecot:
        if os.geteuid() != 0:
            raise DovecotError("the test Dovecot needs root (useradd, chown, dovecot master)")
        ensure_installed()
        account = _ensure_os_user(MAIL_OS_USER)
        for internal in ("dovecot", "dovenull"):  # normally created by the package
            _ensure_os_user(internal)
        self.uid, self.gid = account.pw_uid, account.pw_gid
        for path in (self.run_dir, self.home_root, self.run_dir / "base", self.run_dir / "state"):
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o755)  # login/auth/imap processes run as other users and must traverse
        if not self.cert_path.exists():
            _self_signed_cert(self.cert_path, self.key_path)
        self._write_passwd()
        last_error = ""
        for _attempt in range(3):  # a free port can be taken between probe and bind
            self.port, self.tls_port = free_port(), free_port()
            self._write_config()
            check = _run(["doveconf", "-c", str(self.conf), "-n"])
            if check.returncode != 0:
                raise DovecotError(f"doveconf rejected {self.conf}: {check.stderr.strip()}")
            self._proc = spawn_foreground([_bin("dovecot"), "-F", "-c", str(self.conf)],
                                          self.run_dir / "dovecot-stdio.log")
            alive = lambda: self._proc is not None and self._proc.poll() is None  # noqa: E731
            if (wait_for_port(self.port, alive=alive, timeout=15)
                    and wait_for_port(self.tls_port, alive=alive, timeout=5)
                    and self._is_ours()):
                return self
            stop_process(self._proc)
            last_error = self._log_tail()
        raise DovecotError(f"dovecot did not come up on 127.0.0.1 (run dir {self.run_dir}):\n"
                           f"{last_error}")

    def stop(self) -> None:
        if self._proc is not None:
            stop_process(self._proc)
            self._proc = None
        if self._own_dir and not os.environ.get("INTAKE_KEEP_DOVECOT"):
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def _is_ours(self) -> bool:
        """Both ports answer as this instance, not a server that took a port we probed as
        free: the plain greeting carries our token, IMAPS presents our certificate."""
        try:
            with socket.create_connection((self.host, self.port), timeout=5) as sock:
                greeting = sock.recv(512)
            with socket.create_connection((self.host, self.tls_port), timeout=5) as sock:
                with self.ssl_context().wrap_socket(sock, server_hostname=self.host) as tls:
                    tls.recv(512)
        except (OSError, ssl.SSLError):
            return False
        return self._token.encode() in greeting

    @property
    def master_pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _log_tail(self, lines: int = 30) -> str:
        out = []
        for path in (self.log_path, self.run_dir / "dovecot-stdio.log"):
            if path.exists():
                out += path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(out)

    def _ensure_home(self, user: str) -> None:
        # the imap process runs as the mail user and cannot create its home under ours
        home = self.home(user)
        for path in (home.parent, home):
            path.mkdir(parents=True, exist_ok=True)
            os.chown(path, self.uid, self.gid)

    def _write_passwd(self) -> None:
        for user in self.users:
            self._ensure_home(user)
        # Dovecot re-reads a passwd-file whose mtime/size changed, so users added while it
        # runs can log in at once. Written to a temp file and renamed: never seen half-written.
        text = "".join(f"{user}:{{PLAIN}}{password}::::::\n" for user, password in self.users.items())
        tmp = self.passwd_file.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.chmod(0o644)
        os.replace(tmp, self.passwd_file)

    def _write_config(self) -> None:
        run = self.run_dir
        dh = "/usr/share/dovecot/dh.pem"
        self.conf.write_text(f"""\
# generated by tests/support/dovecot.py: private test instance, loopback only
instance_name = intake-test-{os.getpid()}
base_dir = {run}/base
state_dir = {run}/state
protocols = imap
listen = {LOOPBACK}
log_path = {self.log_path}
info_log_path = {run}/dovecot-info.log
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = {self.uid}
last_valid_uid = {self.uid}
first_valid_gid = {self.gid}
ssl = yes
ssl_cert = <{self.cert_path}
ssl_key = <{self.key_path}
{f"ssl_dh = <{dh}" if os.path.exists(dh) else ""}
disable_plaintext_auth = no
login_greeting = intake test Dovecot {self._token} ready.
# process titles name the user ("imap [user 127.0.0.1 ...]"), which kick() relies on
verbose_proctitle = yes
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
# tests and benchmarks open many sessions for one user from 127.0.0.1
mail_max_userip_connections = 1000
default_process_limit = 500
default_client_limit = 2000
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.passwd_file}
}}
# throw-away per-test mailboxes: any name in this domain, one password, no file to
# re-read (Dovecot re-reads a changed passwd-file at most once a second)
passdb {{
  driver = static
  args = password={BOX_PASSWORD}
  username_filter = *@{BOX_DOMAIN}
}}
userdb {{
  driver = static
  args = uid={self.uid} gid={self.gid} home={self.home_root}/%d/%n
}}
service imap-login {{
  inet_listener imap {{
    address = {LOOPBACK}
    port = {self.port}
  }}
  inet_listener imaps {{
    address = {LOOPBACK}
    port = {self.tls_port}
    ssl = yes
  }}
}}
# tests log in with wrong passwords on purpose: no 2 s failure delay, and no per-IP auth
# penalty (mode 0 disables it), which would slow every later login from 127.0.0.1
auth_failure_delay = 0
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
# imap processes run as the mail user and report to stats; without this they log
# "Permission denied" on stats-writer for every session
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
protocol imap {{
  mail_max_userip_connections = 1000
}}
{self._variant_config()}""")

    def _variant_config(self) -> str:
        """The namespace and capability lines of a variant; empty for the default layout."""
        lines = []
        if self.prefix is not None or self.special_use:
            lines += ["namespace inbox {", "  inbox = yes",
                      f"  prefix = {self.prefix or ''}", f"  separator = {self.separator}"]
            for folder, flag in self.special_use.items():
                lines += [f'  mailbox "{folder}" {{', "    auto = create",
                          f"    special_use = {flag}", "  }"]
            lines.append("}")
        if self.capabilities is not None:
            lines.append(f"imap_capability = {self.capabilities}")
        return "\n".join(lines) + "\n"

    # -- users and paths ----------------------------------------------------------------
    def add_user(self, user: str, password: str = "secret") -> None:
        """Add a passwd-file user; returns once Dovecot's auth process knows it."""
        with self._users_lock:
            self.users[user] = password
            self._write_passwd()
        deadline = time.monotonic() + 5
        while _run(["doveadm", "-c", str(self.conf), "auth", "lookup", user]).returncode != 0:
            if time.monotonic() > deadline:
                raise DovecotError(f"Dovecot did not pick up new user {user} from {self.passwd_file}")
            time.sleep(0.1)

    def new_box(self) -> Mailbox:
        """A fresh, empty mailbox: a never-used name in BOX_DOMAIN, so UIDs start at 1."""
        with self._users_lock:
            self._box_counter += 1
            user = f"box{self._box_counter:05d}@{BOX_DOMAIN}"
        self.users[user] = BOX_PASSWORD
        self._ensure_home(user)
        return Mailbox(self, user, BOX_PASSWORD)

    def drop_box(self, box: Mailbox) -> None:
        self.kick(box.user)
        self.users.pop(box.user, None)
        shutil.rmtree(self.home(box.user), ignore_errors=True)

    def remove_user(self, user: str) -> None:
        with self._users_lock:
            self.users.pop(user, None)
            self._write_passwd()
        shutil.rmtree(self.home(user), ignore_errors=True)

    def home(self, user: str) -> Path:
        local, _, domain = user.partition("@")
        return self.home_root / domain / local

    def maildir(self, user: str, folder: str = "INBOX") -> Path:
        """The directory of a folder (Maildir++: INBOX is the root, others are `.Name`; a
        namespace prefix such as `INBOX.` is not part of the directory name)."""
        root = self.home(user) / "Maildir"
        if self.prefix and folder.upper().startswith(self.prefix.upper()):
            folder = folder[len(self.prefix):]
        return root if folder.upper() == "INBOX" else root / ("." + folder.replace("/", "."))

    def doveadm(self, *args: str, timeout: float = 60) -> str:
        result = _run(["doveadm", "-c", str(self.conf), *args], timeout=timeout)
        if result.returncode != 0:
            raise DovecotError(f"doveadm {' '.join(args)} failed ({result.returncode}): "
                               f"{result.stderr.strip()}")
        return result.stdout

    # -- IMAP access --------------------------------------------------------------------
    def ssl_context(self) -> ssl.SSLContext:
        """Verifies the server against our self-signed certificate (hostname 127.0.0.1)."""
        return ssl.create_default_context(cafile=str(self.cert_path))

    def connect(self, user: str, security: Security = "none", login: bool = True,
                timeout: float = 10) -> IMAPClient:
        if security == "ssl":
            client = IMAPClient(self.host, port=self.tls_port, ssl=True,
                                ssl_context=self.ssl_context(), timeout=timeout)
        else:
            client = IMAPClient(self.host, port=self.port, ssl=False, timeout=timeout)
            if security == "starttls":
                client.starttls(self.ssl_context())
        if login:
            client.login(user, self.users[user])
        return client

    @contextmanager
    def session(self, user: str) -> Iterator[IMAPClient]:
        client = self.connect(user)
        try:
            yield client
        finally:
            try:
                client.logout()
            except Exception:  # noqa: BLE001 - the server may have kicked us; nothing to do
                client.shutdown()

    # -- mailbox helpers ----------------------------------------------------------------
    def append(self, user: str, raw: bytes, folder: str = "INBOX",
               flags: Iterable[str | bytes] = ()) -> int | None:
        """IMAP APPEND; returns the new UID (from the APPENDUID response, RFC 4315)."""
        with self.session(user) as client:
            response = client.append(folder, raw, flags=tuple(flags))
        match = re.search(rb"APPENDUID \d+ (\d+)", response if isinstance(response, bytes)
                          else str(response).encode())
        return int(match.group(1)) if match else None

    def load(self, user: str, n: int, seed: int = 1, start: int = 0,
             folder: str = "INBOX") -> list[gen_mail.MessageInfo]:
        """Add generated messages start..start+n-1 fast: write Maildir files, then let
        Dovecot index them. In an empty folder message i gets UID i - start + 1."""
        directory = self.maildir(user, folder)
        self._ensure_home(user)
        (self.home(user) / "Maildir").mkdir(exist_ok=True)
        os.chown(self.home(user) / "Maildir", self.uid, self.gid)
        infos = gen_mail.write_maildir(directory, n, seed, self.uid, self.gid, start=start)
        if folder.upper() != "INBOX":
            (directory / "maildirfolder").touch()
            os.chown(directory / "maildirfolder", self.uid, self.gid)
        self.doveadm("force-resync", "-u", user, folder)
        if n >= 100:  # build the cache now so a benchmark's first FETCH measures IMAP, not us
            self.doveadm("index", "-u", user, folder)
        return infos

    def status(self, user: str, folder: str = "INBOX") -> dict[str, int]:
        """messages, unseen, uidvalidity, uidnext of a folder (doveadm mailbox status)."""
        out = self.doveadm("mailbox", "status", "-u", user,
                           "messages unseen uidvalidity uidnext", folder)
        return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", out)}

    def uids(self, user: str, folder: str = "INBOX") -> list[int]:
        with self.session(user) as client:
            client.select_folder(folder, readonly=True)
            return sorted(int(uid) for uid in client.search("ALL"))

    def count(self, user: str, folder: str = "INBOX") -> int:
        return self.status(user, folder)["messages"]

    def uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        return self.status(user, folder)["uidvalidity"]

    def create_folder(self, user: str, name: str) -> None:
        with self.session(user) as client:
            if not client.folder_exists(name):
                client.create_folder(name)
            client.subscribe_folder(name)

    def sessions(self, user: str) -> list[int]:
        """Pids of the user's imap processes (children of our master, found by their
        verbose process title "imap [user ip ...]")."""
        master = self.master_pid
        if master is None:
            return []
        pids = []
        needle = f"/imap [{user} ".encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_bytes()
                ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
                if ppid == master and needle in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except (OSError, ValueError):
                continue  # exited while we looked
        return pids

    def kick(self, user: str, timeout: float = 5.0) -> None:
        """Disconnect every IMAP session of the user; returns once they are gone.

        `doveadm kick` alone can miss a session that has not registered with anvil yet,
        and returns before the process has exited, so we wait for the processes and, if
        need be, SIGTERM them ourselves (they are our master's children)."""
        _run(["doveadm", "-c", str(self.conf), "kick", user])  # exit 68: nobody connected
        deadline = time.monotonic() + timeout
        signalled: set[int] = set()
        while pids := self.sessions(user):
            if time.monotonic() > deadline:
                raise DovecotError(f"sessions of {user} survived kick: pids {pids}")
            time.sleep(0.05)
            for pid in self.sessions(user):
                if pid not in signalled:
                    signalled.add(pid)
                    try:
                        os.kill(pid, signal.SIGTERM)
                    except ProcessLookupError:
                        pass

    def reset_uidvalidity(self, user: str, folder: str = "INBOX") -> tuple[int, int]:
        """Make the folder's UIDVALIDITY change while its messages stay, as after a server
        migration or restore: sessions are kicked, Dovecot's UID list and indexes for the
        folder are deleted and the folder is resynced, which renumbers the messages from
        UID 1 under a new UIDVALIDITY (Dovecot takes it from the Maildir's
        dovecot-uidvalidity file, which only grows). Returns (old, new); raises if unchanged."""
        old = self.uidvalidity(user, folder)
        before = self.count(user, folder)
        self.kick(user)
        # the folder's own UID list and indexes, and the mailbox list index at the Maildir
        # root, which caches every folder's UIDVALIDITY for STATUS
        for directory in {self.maildir(user, folder), self.maildir(user)}:
            for name in INDEX_FILES:
                (directory / name).unlink(missing_ok=True)
        self.doveadm("force-resync", "-u", user, folder)
        new = self.uidvalidity(user, folder)
        if new == old:  # belt and braces: set it explicitly
            self.doveadm("mailbox", "update", "--uid-validity", str(old + 1), "-u", user, folder)
            new = self.uidvalidity(user, folder)
        if new == old or self.count(user, folder) != before:
            raise DovecotError(f"UIDVALIDITY reset of {user}/{folder} failed: {old} -> {new}, "
                               f"{before} -> {self.count(user, folder)} messages")
        return old, new


@dataclass
class Mailbox:
    """One user's mailbox on the shared test Dovecot, with the helpers bound to the user."""

    server: Dovecot
    user: str
    password: str

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def tls_port(self) -> int:
        return self.server.tls_port

    @property
    def cert_path(self) -> Path:
        return self.server.cert_path

    @property
    def maildir(self) -> Path:
        return self.server.maildir(self.user)

    def ssl_context(self) -> ssl.SSLContext:
        return self.server.ssl_context()

    def connect(self, security: Security = "none", login: bool = True) -> IMAPClient:
        return self.server.connect(self.user, security, login)

    def append(self, raw: bytes, folder: str = "INBOX",
               flags: Iterable[str | bytes] = ()) -> int | None:
        return self.server.append(self.user, raw, folder, flags)

    def load(self, n: int, seed: int = 1, start: int = 0,
             folder: str = "INBOX") -> list[gen_mail.MessageInfo]:
        return self.server.load(self.user, n, seed, start, folder)

    def uids(self, folder: str = "INBOX") -> list[int]:
        return self.server.uids(self.user, folder)

    def count(self, folder: str = "INBOX") -> int:
        return self.server.count(self.user, folder)

    def status(self, folder: str = "INBOX") -> dict[str, int]:
        return self.server.status(self.user, folder)

    def uidvalidity(self, folder: str = "INBOX") -> int:
        return self.server.uidvalidity(self.user, folder)

    def create_folder(self, name: str) -> None:
        self.server.create_folder(self.user, name)

    def reset_uidvalidity(self, folder: str = "INBOX") -> tuple[int, int]:
        return self.server.reset_uidvalidity(self.user, folder)

    def kick(self) -> None:
        self.server.kick(self.user)

    def imap_settings(self, security: Security = "starttls") -> dict[str, str]:
        """INTAKE_IMAP_* environment for the production code to reach this mailbox."""
        return {
            "INTAKE_IMAP_HOST": self.host,
            "INTAKE_IMAP_PORT": str(self.tls_port if security == "ssl" else self.port),
            "INTAKE_IMAP_USER": self.user,
            "INTAKE_IMAP_PASSWORD": self.password,
            "INTAKE_IMAP_SECURITY": security,
            # self-signed; a client can verify it with cafile=self.cert_path instead
            "INTAKE_IMAP_TLS_VERIFY": "false",
        }
