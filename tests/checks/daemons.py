"""Real daemons from Debian packages, started on loopback for the check tests.

Each runs in the foreground on 127.0.0.1 at a free non-default port, with its
configuration and data in a private temporary directory, and is stopped
(TERM, then KILL) when its fixture ends. A missing daemon skips its tests,
or fails them when LVSD_REQUIRE_LAB=1 (CI), so they never vanish silently.

Debian packages (CI installs them): mariadb-server postgresql slapd
dnsmasq-base freeradius vsftpd dovecot-imapd dovecot-pop3d openssl.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.ports import free_port
from tests.support.servers import Certs
from tests.support.skipping import missing as lacking

START_TIMEOUT = 60.0


def need(*paths: str, module: str | None = None) -> None:
    """Skip (or fail under LVSD_REQUIRE_LAB=1) unless every path exists and the module imports."""
    missing = [p for p in paths if not os.path.exists(p)]
    if module is not None:
        import importlib.util

        if importlib.util.find_spec(module) is None:
            missing.append(f"python module {module}")
    if os.geteuid() != 0:
        missing.append("root (the daemons drop privileges from root)")
    if missing:
        lacking(f"needs {', '.join(missing)} (see tests/checks/daemons.py for the Debian packages)")


def wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, kind: int = socket.SOCK_STREAM) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daemon exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        if kind == socket.SOCK_STREAM:
            with socket.socket() as s:
                s.settimeout(0.5)
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
        else:
            if _udp_bound(port):
                return
        time.sleep(0.1)
    raise RuntimeError(f"daemon did not listen on {port} within {START_TIMEOUT}s:\n"
                       f"{log.read_text(errors='replace')[-3000:]}")


def _udp_bound(port: int) -> bool:
    with open("/proc/net/udp") as f:
        return any(f":{port:04X} " in line.split()[1] + " " for line in f.readlines()[1:])


@contextmanager
def running(argv: list[str], log: Path, port: int, *, kind: int = socket.SOCK_STREAM, user: str | None = None,
            env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    if user is not None:
        argv = ["runuser", "-u", user, "--", *argv]
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=env)
    try:
        wait_port(port, proc, log, kind)
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        except ProcessLookupError:
            pass


def scratch_base() -> str | None:
    """A tmpfs for the daemons' data when there is one (/run in the kernel lab, whose / is the host's hostfs:
    ownership, unix sockets and O_DIRECT do not work there); else the system's temporary directory."""
    with open("/proc/mounts") as f:
        mounts = {fields[1]: fields[2] for fields in (line.split() for line in f) if len(fields) > 2}
    if mounts.get("/") == "hostfs" and mounts.get("/run") == "tmpfs":
        return "/run"
    return None


def scratch(prefix: str, owner: str | None = None) -> Path:
    """A private directory (readable by the daemon's user when it drops privileges)."""
    d = Path(tempfile.mkdtemp(prefix=f"lvsd-{prefix}-", dir=scratch_base()))
    os.chmod(d, 0o755)
    if owner is not None:
        pw = pwd.getpwnam(owner)
        os.chown(d, pw.pw_uid, pw.pw_gid)
    return d


def run(argv: list[str], *, user: str | None = None, timeout: float = 120, **kw: object) -> None:
    if user is not None:
        argv = ["runuser", "-u", user, "--", *argv]
    p = subprocess.run(argv, capture_output=True, timeout=timeout, **kw)  # type: ignore[call-overload]
    if p.returncode != 0:
        out = (p.stdout.decode() + p.stderr.decode())[-3000:]
        raise RuntimeError(f"{argv[0]} failed ({p.returncode}): {out}")


# -- dnsmasq (DNS over UDP and TCP) -------------------------------------------------------------


@contextmanager
def dnsmasq() -> Iterator[int]:
    """www.example.com A 192.0.2.10, mail.example.com A 192.0.2.25, PTR 192.0.2.10 -> www.example.com."""
    need("/usr/sbin/dnsmasq")
    d = scratch("dns")
    port = free_port()
    argv = ["/usr/sbin/dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", f"--port={port}",
            "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts", "--no-poll",
            "--pid-file=", "--user=root", "--group=root",
            "--host-record=www.example.com,192.0.2.10", "--address=/mail.example.com/192.0.2.25",
            "--log-facility=-"]
    try:
        with running(argv, d / "log", port):
            yield port
    finally:
        shutil.rmtree(d, ignore_errors=True)


# -- PostgreSQL ------------------------------------------------------------------------------------


def _pg_bin() -> Path | None:
    base = Path("/usr/lib/postgresql")
    versions = sorted(base.glob("*/bin/postgres")) if base.exists() else []
    return versions[-1].parent if versions else None


@contextmanager
def postgres() -> Iterator[int]:
    """User lvsd / password secret, database lvsdtest with table pool(name, enabled): one enabled row."""
    bindir = _pg_bin()
    need(str(bindir / "postgres") if bindir else "/usr/lib/postgresql/*/bin/postgres", module="asyncpg")
    assert bindir is not None
    d = scratch("pg", owner="postgres")
    data, sock = d / "data", d / "sock"
    port = free_port()
    try:
        (d / "pw").write_text("secret\n")
        os.chown(d / "pw", pwd.getpwnam("postgres").pw_uid, -1)
        run([str(bindir / "initdb"), "-D", str(data), "-U", "lvsd", "--auth=md5", f"--pwfile={d / 'pw'}",
             "-E", "UTF8"], user="postgres", cwd=str(d))
        sock.mkdir()
        os.chown(sock, pwd.getpwnam("postgres").pw_uid, -1)
        argv = [str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(sock), "-c",
                "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "shared_buffers=16MB"]
        with running(argv, d / "log", port, user="postgres"):
            env = {**os.environ, "PGPASSWORD": "secret"}
            # The port opens before the server takes queries ("the database system is
            # starting up"): wait, bounded, until pg_isready says it accepts connections.
            ready = [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-t", "2"]
            for _ in range(60):
                if subprocess.run(ready, capture_output=True, timeout=10).returncode == 0:
                    break
                time.sleep(0.25)
            psql = [str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "lvsd", "-d"]
            run([*psql, "postgres", "-c", "CREATE DATABASE lvsdtest;"], env=env)
            run([*psql, "lvsdtest", "-c", "CREATE TABLE pool (name text, enabled boolean); "
                 "INSERT INTO pool VALUES ('rs1', true), ('rs2', false);"], env=env)
            yield port
    finally:
        shutil.rmtree(d, ignore_errors=True)


# -- MariaDB ---------------------------------------------------------------------------------------


@contextmanager
def mariadb() -> Iterator[int]:
    """User lvsd / password secret, database lvsdtest with table pool(name, enabled): one enabled row."""
    need("/usr/sbin/mariadbd", "/usr/bin/mariadb-install-db", module="aiomysql")
    d = scratch("mysql")
    data = d / "data"
    port = free_port()
    try:
        _mariadb_install(data)
    except BaseException:
        shutil.rmtree(d, ignore_errors=True)
        raise
    init = d / "init.sql"
    init.write_text(
        "CREATE DATABASE IF NOT EXISTS lvsdtest;\n"
        "CREATE USER IF NOT EXISTS 'lvsd'@'127.0.0.1' IDENTIFIED BY 'secret';\n"
        "GRANT ALL ON lvsdtest.* TO 'lvsd'@'127.0.0.1';\n"
        "CREATE TABLE IF NOT EXISTS lvsdtest.pool (name VARCHAR(20), enabled BOOL);\n"
        "DELETE FROM lvsdtest.pool;\n"
        "INSERT INTO lvsdtest.pool VALUES ('rs1', 1), ('rs2', 0);\n")
    argv = ["/usr/sbin/mariadbd", "--no-defaults", f"--datadir={data}", f"--port={port}", "--bind-address=127.0.0.1",
            f"--socket={d / 'sock'}", f"--pid-file={d / 'pid'}", "--user=root", f"--init-file={init}",
            "--skip-log-bin", "--innodb-buffer-pool-size=16M", "--innodb-buffer-pool-size-max=32M",
            "--innodb-log-file-size=8M", "--skip-name-resolve", f"--log-error={d / 'err'}"]
    try:
        with running(argv, d / "log", port):
            yield port
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _mariadb_install(data: Path) -> None:
    run(["/usr/bin/mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root",
         "--innodb-log-file-size=8M", "--innodb-buffer-pool-size-max=32M",
         "--auth-root-authentication-method=normal", "--skip-test-db"], timeout=180)


# -- OpenLDAP slapd (ldap and ldaps) ---------------------------------------------------------------

LDIF = """dn: dc=example,dc=com
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=health,dc=example,dc=com
objectClass: organizationalUnit
ou: health

dn: cn=monitor,ou=health,dc=example,dc=com
objectClass: person
cn: monitor
sn: monitor
userPassword: secret
"""


@contextmanager
def slapd(certs: Certs) -> Iterator[tuple[int, int]]:
    """Suffix dc=example,dc=com; bind DN cn=monitor,ou=health,dc=example,dc=com / secret. (ldap, ldaps) ports."""
    need("/usr/sbin/slapd", "/usr/sbin/slapadd", "/usr/lib/ldap/back_mdb.so")
    d = scratch("ldap")
    (d / "db").mkdir()
    conf = d / "slapd.conf"
    conf.write_text(f"""include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {d}/slapd.pid
TLSCertificateFile {certs.cert}
TLSCertificateKeyFile {certs.key}
access to * by * read
database mdb
maxsize 10485760
suffix "dc=example,dc=com"
rootdn "cn=admin,dc=example,dc=com"
rootpw secret
directory {d}/db
""")
    (d / "data.ldif").write_text(LDIF)
    run(["/usr/sbin/slapadd", "-f", str(conf), "-l", str(d / "data.ldif")])
    port, sport = free_port(), free_port()
    argv = ["/usr/sbin/slapd", "-f", str(conf), "-h", f"ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{sport}/",
            "-d", "0"]
    try:
        with running(argv, d / "log", port) as proc:
            wait_port(sport, proc, d / "log")
            yield port, sport
    finally:
        shutil.rmtree(d, ignore_errors=True)


# -- FreeRADIUS ------------------------------------------------------------------------------------


@contextmanager
def freeradius() -> Iterator[int]:
    """Client 127.0.0.1 with secret testing123; user lvsd / password secret (PAP)."""
    need("/usr/sbin/freeradius", "/usr/share/freeradius/dictionary")
    d = scratch("radius")
    port = free_port(socket.SOCK_DGRAM)
    (d / "users").write_text('lvsd Cleartext-Password := "secret"\n')
    (d / "dictionary").write_text("")
    (d / "radiusd.conf").write_text(f"""prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = {d}
sbindir = /usr/sbin
logdir = {d}
raddbdir = {d}
radacctdir = {d}
name = freeradius
confdir = {d}
modconfdir = {d}
run_dir = {d}
db_dir = {d}
libdir = /usr/lib/freeradius
dictdir = /usr/share/freeradius
pidfile = {d}/radiusd.pid
max_request_time = 5
cleanup_delay = 1
max_requests = 1024
hostname_lookups = no
log {{
    destination = stdout
}}
security {{
    allow_core_dumps = no
}}
client localhost {{
    ipaddr = 127.0.0.1
    secret = testing123
}}
modules {{
    pap {{
    }}
    files {{
        filename = {d}/users
    }}
}}
server default {{
    listen {{
        type = auth
        ipaddr = 127.0.0.1
        port = {port}
    }}
    authorize {{
        files
        pap
    }}
    authenticate {{
        Auth-Type PAP {{
            pap
        }}
    }}
}}
""")
    argv = ["/usr/sbin/freeradius", "-f", "-l", "stdout", "-d", str(d)]
    try:
        with running(argv, d / "log", port, kind=socket.SOCK_DGRAM):
            yield port
    finally:
        shutil.rmtree(d, ignore_errors=True)


# -- vsftpd ----------------------------------------------------------------------------------------


@contextmanager
def vsftpd() -> Iterator[int]:
    """Anonymous FTP (login anonymous or ftp) serving /health.txt ("ftp server OK")."""
    need("/usr/sbin/vsftpd")
    d = scratch("ftp")
    root = d / "root"
    root.mkdir()
    (root / "health.txt").write_text("ftp server OK\n")
    os.chmod(d, 0o755)
    empty = d / "empty"
    empty.mkdir()
    port = free_port()
    conf = d / "vsftpd.conf"
    conf.write_text(f"""listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port={port}
background=NO
anonymous_enable=YES
no_anon_password=YES
anon_root={root}
local_enable=NO
write_enable=NO
pasv_enable=YES
pasv_address=127.0.0.1
pasv_min_port=40000
pasv_max_port=60000
secure_chroot_dir={empty}
nopriv_user=nobody
ftp_username=ftp
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
xferlog_enable=NO
vsftpd_log_file={d}/vsftpd.log
""")
    try:
        with running(["/usr/sbin/vsftpd", str(conf)], d / "log", port):
            yield port
    finally:
        shutil.rmtree(d, ignore_errors=True)


# -- Dovecot (pop3, pop3s, imap, imaps) ------------------------------------------------------------


@contextmanager
def dovecot(certs: Certs) -> Iterator[dict[str, int]]:
    """Any user with password secret; ports {"pop", "pops", "imap", "imaps"}."""
    need("/usr/sbin/dovecot", "/usr/lib/dovecot/imap", "/usr/lib/dovecot/pop3")
    d = scratch("mail")
    os.chmod(d, 0o755)
    home = d / "home"
    home.mkdir(mode=0o777)
    os.chmod(home, 0o777)
    ports = {name: free_port() for name in ("pop", "pops", "imap", "imaps")}
    conf = d / "dovecot.conf"
    conf.write_text(f"""protocols = imap pop3
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = /dev/stderr
ssl = yes
ssl_cert = <{certs.cert}
ssl_key = <{certs.key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
first_valid_uid = 1
mail_location = maildir:~/Maildir
default_login_user = dovenull
default_internal_user = dovecot
passdb {{
  driver = static
  args = password=secret
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={home}/%u
}}
service imap-login {{
  inet_listener imap {{
    port = {ports["imap"]}
  }}
  inet_listener imaps {{
    port = {ports["imaps"]}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {ports["pop"]}
  }}
  inet_listener pop3s {{
    port = {ports["pops"]}
    ssl = yes
  }}
}}
""")
    try:
        with running(["/usr/sbin/dovecot", "-F", "-c", str(conf)], d / "log", ports["imap"]) as proc:
            for name in ("pop", "pops", "imaps"):
                wait_port(ports[name], proc, d / "log")
            yield ports
    finally:
        shutil.rmtree(d, ignore_errors=True)
