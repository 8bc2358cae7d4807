"""Throwaway real mail servers for the email channel's tests: Debian's dovecot (IMAP, with
IDLE) and exim4 (SMTP with AUTH), both started from their own config files in a temp
directory, on free high ports, as an unprivileged user (``nobody`` when the tests run as
root). Exim delivers into the same Maildirs dovecot serves, so a mail sent over SMTP can be
fetched over IMAP like on a real mail host. Nothing of the system's mail setup is touched:
no system service, no standard port, no file outside the temp directory.

scripts/test installs the packages (dovecot-imapd, exim4-daemon-light). A missing binary
fails the fixture loudly: the email tests never skip quietly.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import ipaddress
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import aiosmtplib
import pytest

DOMAIN = "example.test"
PASSWORD = "secret"
USERS = ("support", "customer", "other")  # mailboxes on the throwaway host


@dataclass
class MailServers:
    root: Path
    imap_port: int
    smtp_port: int  # plain, STARTTLS offered
    imaps_port: int  # TLS from the first byte
    smtps_port: int
    ca_file: Path  # the self-signed certificate both servers present (for 127.0.0.1)

    def imap_url(self, user: str = "support", mailbox: str = "INBOX", *, tls: bool = False) -> str:
        if tls:
            return f"imaps://{user}:{PASSWORD}@127.0.0.1:{self.imaps_port}/{mailbox}"
        return f"imap://{user}:{PASSWORD}@127.0.0.1:{self.imap_port}/{mailbox}"

    def smtp_url(self, user: str = "support", *, tls: str = "") -> str:
        if tls == "starttls":
            return f"smtp+starttls://{user}:{PASSWORD}@127.0.0.1:{self.smtp_port}"
        if tls == "tls":
            return f"smtps://{user}:{PASSWORD}@127.0.0.1:{self.smtps_port}"
        return f"smtp://{user}:{PASSWORD}@127.0.0.1:{self.smtp_port}"

    def address(self, user: str) -> str:
        return f"{user}@{DOMAIN}"

    def maildir(self, user: str) -> Path:
        return self.root / "mail" / user

    def clear(self) -> None:
        """Empty every mailbox (between tests that share the servers)."""
        for user in USERS:
            for sub in ("new", "cur"):
                for path in (self.maildir(user) / sub).glob("*"):
                    path.unlink()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], logs: list[Path], what: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and proc.poll() is None:  # both stay in the foreground
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    text = "".join(log.read_text() for log in logs if log.exists())
    raise RuntimeError(f"{what} did not start on port {port}:\n{text[-3000:]}")


def _run_as() -> pwd.struct_passwd:
    """The unprivileged user the servers run as: ourselves, or ``nobody`` under root."""
    return pwd.getpwnam("nobody") if os.getuid() == 0 else pwd.getpwuid(os.getuid())


def _binary(name: str, package: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if path is None:
        raise RuntimeError(f"{name} is missing: install Debian's {package} (scripts/test does)")
    return path


def _certificate(root: Path) -> Path:
    """A self-signed certificate for 127.0.0.1: the tests trust it through SSL_CERT_FILE."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (root / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (root / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return root / "cert.pem"


def _dovecot_conf(root: Path, user: pwd.struct_passwd, port: int, tls_port: int) -> str:
    group = user.pw_gid
    return f"""
base_dir = {root}/dovecot-run
state_dir = {root}/dovecot-state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {user.pw_name}
default_internal_user = {user.pw_name}
default_internal_group = #{group}
mail_location = maildir:{root}/mail/%n
mail_privileged_group =
first_valid_uid = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {root}/passwd
}}
userdb {{
  driver = static
  args = uid={user.pw_uid} gid={group} home={root}/mail/%n
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = {tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service auth {{
  user = {user.pw_name}
}}
service auth-worker {{
  user = {user.pw_name}
}}
service stats {{
  chroot =
}}
imap_idle_notify_interval = 1 secs
"""


def _exim_conf(root: Path, user: pwd.struct_passwd, port: int, tls_port: int) -> str:
    return f"""
keep_environment =
primary_hostname = mail.{DOMAIN}
exim_user = {user.pw_name}
exim_group = {user.pw_gid}
never_users =
spool_directory = {root}/exim
log_file_path = {root}/exim-%slog
pid_file_path = {root}/exim.pid
daemon_smtp_ports = {port} : {tls_port}
tls_on_connect_ports = {tls_port}
tls_certificate = {root}/cert.pem
tls_privatekey = {root}/key.pem
local_interfaces = 127.0.0.1
host_lookup =
rfc1413_hosts =
tls_advertise_hosts = *
auth_advertise_hosts = *
message_size_limit = 60M
domainlist local_domains = {DOMAIN}
acl_smtp_rcpt = check_rcpt

begin acl
check_rcpt:
  accept domains = +local_domains
  deny message = relay not permitted

begin routers
local_user:
  driver = accept
  domains = +local_domains
  local_parts = {" : ".join(USERS)}
  transport = maildir

begin transports
maildir:
  driver = appendfile
  directory = {root}/mail/${{local_part_data}}
  maildir_format
  create_directory
  delivery_date_add
  envelope_to_add
  return_path_add
  user = {user.pw_name}

begin retry
*  *  F,1m,2s

begin authenticators
plain:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = ${{if eq{{$auth3}}{{{PASSWORD}}}}}
  server_set_id = $auth2
"""


@pytest.fixture(scope="session")
def mailservers() -> Iterator[MailServers]:
    with running_mailservers() as servers:
        yield servers


@contextlib.contextmanager
def running_mailservers() -> Iterator[MailServers]:
    """dovecot and exim from their own configs on free ports; stopped and removed on exit
    (the tests' fixture and bench/email_throughput.py)."""
    dovecot = _binary("dovecot", "dovecot-imapd")
    exim = _binary("exim4", "exim4-daemon-light")
    user = _run_as()
    # Not pytest's tmp_path: that is private to the (root) test user, and the servers run as
    # another one.
    root = Path(tempfile.mkdtemp(prefix="smartsupport-mail-"))
    for sub in ("dovecot-run", "dovecot-state", "exim", "mail"):
        (root / sub).mkdir()
    for name in USERS:
        for sub in ("new", "cur", "tmp"):
            (root / "mail" / name / sub).mkdir(parents=True)
    (root / "passwd").write_text("".join(f"{u}:{{PLAIN}}{PASSWORD}\n" for u in USERS))
    imap_port, smtp_port, imaps_port, smtps_port = (free_port() for _ in range(4))
    ca_file = _certificate(root)
    (root / "dovecot.conf").write_text(_dovecot_conf(root, user, imap_port, imaps_port))
    (root / "exim.conf").write_text(_exim_conf(root, user, smtp_port, smtps_port))
    for path in [root, *root.rglob("*")]:
        os.chown(path, user.pw_uid, user.pw_gid)
    root.chmod(0o755)
    as_user = {"user": user.pw_uid, "group": user.pw_gid} if os.getuid() == 0 else {}
    commands = {
        "dovecot": [dovecot, "-F", "-c", str(root / "dovecot.conf")],
        # -bdf: the daemon stays in the foreground; -q10s retries a deferred delivery soon
        "exim": [exim, "-C", str(root / "exim.conf"), "-bdf", "-q10s"],
    }
    procs = []
    for name, command in commands.items():
        with open(root / f"{name}.err", "wb") as err:  # the child keeps its own copy
            procs.append(
                subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, **as_user)  # type: ignore[call-overload]
            )
    try:
        _wait_for_port(imap_port, procs[0], [root / "dovecot.err", root / "dovecot.log"], "dovecot")
        _wait_for_port(
            smtp_port,
            procs[1],
            [root / "exim.err", root / "exim-mainlog", root / "exim-paniclog"],
            "exim",
        )
        yield MailServers(root, imap_port, smtp_port, imaps_port, smtps_port, ca_file)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(root, ignore_errors=True)


# -- what the tests do with the servers --------------------------------------------------------
def mail_count(servers: MailServers, user: str) -> int:
    return sum(1 for sub in ("new", "cur") for _ in (servers.maildir(user) / sub).glob("*"))


async def wait_for_mail(servers: MailServers, user: str, count: int, within: float = 60.0) -> None:
    """Until ``user``'s mailbox holds ``count`` mails (exim delivers in the background)."""
    deadline = time.monotonic() + within
    while mail_count(servers, user) < count:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{user} has {mail_count(servers, user)} mails, expected {count}; exim log:\n"
                + (servers.root / "exim.err").read_text()[-2000:]
            )
        await asyncio.sleep(0.05)


async def send(servers: MailServers, mail: EmailMessage, *, login: str = "customer") -> None:
    """Submit ``mail`` over SMTP as the customer does (exim then files it in the Maildir)."""
    await aiosmtplib.send(
        mail,
        hostname="127.0.0.1",
        port=servers.smtp_port,
        username=login,
        password=PASSWORD,
        start_tls=False,
    )


def customer_mail(
    subject: str,
    text: str,
    *,
    sender: str = "customer",
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = f"Ana Customer <{sender}@{DOMAIN}>"
    mail["To"] = f"support@{DOMAIN}"
    mail["Subject"] = subject
    mail["Message-ID"] = message_id or make_msgid(domain=DOMAIN)
    for name, value in (headers or {}).items():
        mail[name] = value
    mail.set_content(text)
    return mail


def fetch_all(servers: MailServers, user: str) -> list[EmailMessage]:
    """Every mail in ``user``'s INBOX, read over IMAP like a mail client does."""
    client = imaplib.IMAP4("127.0.0.1", servers.imap_port)
    try:
        client.login(user, PASSWORD)
        client.select("INBOX", readonly=True)
        _, data = client.uid("search", None, "ALL")  # type: ignore[arg-type]
        found = []
        for uid in data[0].split():
            _, parts = client.uid("fetch", uid.decode(), "(BODY.PEEK[])")  # type: ignore[arg-type]
            raw = parts[0][1]  # type: ignore[index]
            found.append(message_from_bytes(raw, policy=policy.default))
        return found  # type: ignore[return-value]
    finally:
        client.logout()


async def fetch_mailbox(servers: MailServers, user: str) -> list[EmailMessage]:
    return await asyncio.to_thread(fetch_all, servers, user)
