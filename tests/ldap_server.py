"""A real OpenLDAP `slapd` (Debian's /usr/sbin/slapd) on a free loopback port with a small plant directory.

The server gets its own cn=config (made with slapadd from the LDIF below) and MDB database in a temporary folder,
the `memberof` overlay (so users carry memberOf as in Active Directory), and a tiny schema that adds Active
Directory's `userAccountControl` attribute, so a disabled directory account can be tested. The people and groups
are added over LDAP after start (slapadd would bypass the overlay). Stopped at the end of the test; the folder is
the test's tmp_path.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import ipaddress
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ldap3 import MODIFY_ADD, MODIFY_DELETE, MODIFY_REPLACE, Connection, Server

SLAPD = Path("/usr/sbin/slapd")
SLAPADD = Path("/usr/sbin/slapadd")
SCHEMA = Path("/etc/ldap/schema")
MODULES = Path("/usr/lib/ldap")
SUFFIX = "dc=plant,dc=test"
ADMIN_DN = f"cn=admin,{SUFFIX}"
ADMIN_PASSWORD = "directory-admin-pw"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
OPERATORS = f"cn=HMI-Operators,{GROUPS}"
LEADS = f"cn=HMI-Leads,{GROUPS}"
ENGINEERS = f"cn=HMI-Engineers,{GROUPS}"
VISITORS = f"cn=Visitors,{GROUPS}"
# A groupOfUniqueNames: the memberof overlay leaves its members without memberOf, as many directories do, so the
# HMI must find it by searching groups for the person.
MANAGERS = f"cn=HMI-Managers,{GROUPS}"
USER_FILTER = "(&(objectClass=inetOrgPerson)(uid={username}))"
# Active Directory's ACCOUNTDISABLE flag (bit 2) on a normal account (512).
DISABLED_ACCOUNT = 512 | 2


@dataclass(frozen=True)
class Person:
    uid: str
    name: str
    password: str
    groups: tuple[str, ...]
    account_control: int = 512


PERSONS = (
    Person("alice", "Alice Operator", "alice-dir-pw-1", (OPERATORS,)),
    Person("bob", "Bob Lead", "bob-dir-pw-1", (OPERATORS, LEADS)),
    Person("carol", "Carol Engineer", "carol-dir-pw-1", (ENGINEERS,)),
    Person("dave", "Dave Visitor", "dave-dir-pw-1", (VISITORS,)),
    Person("erin", "Erin Disabled", "erin-dir-pw-1", (OPERATORS,), DISABLED_ACCOUNT),
    Person("frank", "Frank Manager", "frank-dir-pw-1", (MANAGERS,)),
)


def ssha(password: str) -> str:
    """`{SSHA}` of `password` as OpenLDAP checks it: base64(sha1(password + salt) + salt)."""
    salt = os.urandom(8)
    return "{SSHA}" + base64.b64encode(hashlib.sha1(password.encode() + salt).digest() + salt).decode()


def make_ca(folder: Path, name: str) -> tuple[Path, x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A throw-away certificate authority: its PEM file in `folder`, its certificate and key."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = folder / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, cert, key


def _server_certificate(folder: Path) -> tuple[Path, Path, Path]:
    """(CA file, certificate, key) for slapd on 127.0.0.1 / localhost, signed by a CA made here."""
    ca_path, ca, ca_key = make_ca(folder, "plant-test-ca")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = folder / "slapd-cert.pem", folder / "slapd-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_path, cert_path, key_path


def _config_ldif(folder: Path, cert: Path, key: Path) -> str:
    includes = "\n".join(f"include: file://{SCHEMA / name}.ldif" for name in ("core", "cosine", "inetorgperson"))
    return f"""\
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {folder}/slapd.pid
olcTLSCertificateFile: {cert}
olcTLSCertificateKeyFile: {key}

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: {MODULES}
olcModuleLoad: back_mdb
olcModuleLoad: memberof

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

{includes}

dn: cn=adaccount,cn=schema,cn=config
objectClass: olcSchemaConfig
cn: adaccount
olcAttributeTypes: ( 1.2.840.113556.1.4.8 NAME 'userAccountControl' EQUALITY integerMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
olcObjectClasses: ( 1.3.6.1.4.1.4203.666.11.99.1 NAME 'adAccount' AUXILIARY MAY userAccountControl )

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcDbDirectory: {folder}/data
olcSuffix: {SUFFIX}
olcRootDN: {ADMIN_DN}
olcRootPW: {ADMIN_PASSWORD}
olcDbMaxSize: 16777216
olcAccess: {{0}}to attrs=userPassword by anonymous auth by self write by * none
olcAccess: {{1}}to * by * read

dn: olcOverlay={{0}}memberof,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: {{0}}memberof
olcMemberOfRefInt: TRUE
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class LdapServer:
    """One slapd process serving `SUFFIX` on 127.0.0.1: `url` (ldap://, StartTLS offered) and `ldaps_url`, with a
    certificate signed by the CA in `ca_file`; `stop()`/`start()` take the directory away and back."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.ldaps_url = f"ldaps://127.0.0.1:{_free_port()}"
        # The same directory at an address its certificate does not name (it names localhost and 127.0.0.1): a
        # client that checks host names must refuse it.
        self.misnamed_url = f"ldaps://127.0.0.2:{_free_port()}"
        self._process: subprocess.Popen[bytes] | None = None
        config = folder / "slapd.d"
        config.mkdir()
        (folder / "data").mkdir()
        self.ca_file, cert, key = _server_certificate(folder)
        ldif = folder / "config.ldif"
        ldif.write_text(_config_ldif(folder, cert, key), encoding="utf-8")
        subprocess.run(
            [str(SLAPADD), "-n", "0", "-F", str(config), "-l", str(ldif)], check=True, capture_output=True, timeout=30
        )

    def start(self) -> None:
        """Start slapd in the foreground (-d 0) and wait until it accepts connections."""
        log = (self.folder / "slapd.log").open("ab")
        self._process = subprocess.Popen(
            [
                str(SLAPD),
                "-d",
                "0",
                "-h",
                f"{self.url}/ {self.ldaps_url}/ {self.misnamed_url}/",
                "-F",
                str(self.folder / "slapd.d"),
            ],
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"slapd exited with {self._process.returncode}; see {self.folder / 'slapd.log'}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return
            time.sleep(0.05)
        raise RuntimeError("slapd did not accept connections within 15 s")

    def stop(self) -> None:
        """Stop slapd (the directory is unreachable until `start()`)."""
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def admin(self) -> Connection:
        """A connection bound as the directory's root DN, to change people and groups from a test."""
        return Connection(Server(self.url, connect_timeout=5), ADMIN_DN, ADMIN_PASSWORD, auto_bind=True)

    def load(self) -> None:
        """Add ou=people, ou=groups, the persons and the groups (group members first, so memberOf is set)."""
        with self.admin() as conn:
            _ok(conn, conn.add(SUFFIX, ["dcObject", "organization"], {"o": "Plant", "dc": "plant"}))
            for ou in (PEOPLE, GROUPS):
                _ok(conn, conn.add(ou, ["organizationalUnit"], {"ou": ou.split(",")[0][3:]}))
            for person in PERSONS:
                self.add_person(conn, person)
            for group in (OPERATORS, LEADS, ENGINEERS, VISITORS):
                members = [f"uid={p.uid},{PEOPLE}" for p in PERSONS if group in p.groups]
                _ok(conn, conn.add(group, ["groupOfNames"], {"member": members}))
            managers = [f"uid={p.uid},{PEOPLE}" for p in PERSONS if MANAGERS in p.groups]
            _ok(conn, conn.add(MANAGERS, ["groupOfUniqueNames"], {"uniqueMember": managers}))

    @staticmethod
    def add_person(conn: Connection, person: Person) -> None:
        """Add `person` under ou=people (without group memberships)."""
        attributes = {
            "cn": person.name,
            "sn": person.name.split()[-1],
            "displayName": person.name,
            "uid": person.uid,
            "userPassword": ssha(person.password),
            "userAccountControl": str(person.account_control),
        }
        _ok(conn, conn.add(f"uid={person.uid},{PEOPLE}", ["inetOrgPerson", "adAccount"], attributes))

    def add_member(self, group: str, uid: str) -> None:
        """Put person `uid` into `group`."""
        with self.admin() as conn:
            _ok(conn, conn.modify(group, {"member": [(MODIFY_ADD, [f"uid={uid},{PEOPLE}"])]}))

    def remove_member(self, group: str, uid: str) -> None:
        """Take person `uid` out of `group`."""
        with self.admin() as conn:
            _ok(conn, conn.modify(group, {"member": [(MODIFY_DELETE, [f"uid={uid},{PEOPLE}"])]}))

    def set_account_control(self, uid: str, value: int) -> None:
        """Set `userAccountControl` of `uid` (DISABLED_ACCOUNT disables it, 512 enables it)."""
        with self.admin() as conn:
            _ok(conn, conn.modify(f"uid={uid},{PEOPLE}", {"userAccountControl": [(MODIFY_REPLACE, [str(value)])]}))

    def set_password(self, uid: str, password: str) -> None:
        """Give person `uid` a new password, as the directory's administrator would."""
        with self.admin() as conn:
            _ok(conn, conn.modify(f"uid={uid},{PEOPLE}", {"userPassword": [(MODIFY_REPLACE, [ssha(password)])]}))

    def rename(self, uid: str, new_uid: str) -> None:
        """Rename person `uid` to `new_uid` (a new DN and login name, the same entryUUID)."""
        with self.admin() as conn:
            _ok(conn, conn.modify_dn(f"uid={uid},{PEOPLE}", f"uid={new_uid}"))

    def delete(self, uid: str) -> None:
        """Remove person `uid` from the directory."""
        with self.admin() as conn:
            _ok(conn, conn.delete(f"uid={uid},{PEOPLE}"))


def _ok(conn: Connection, done: bool) -> None:
    if not done:
        raise RuntimeError(f"directory change failed: {conn.result}")


@contextlib.contextmanager
def running_ldap_server(folder: Path) -> Iterator[LdapServer]:
    """A started slapd in `folder` with the plant directory loaded; stopped when the block ends (a test's fixture
    wraps it: `with running_ldap_server(tmp_path / "slapd") as server: yield server`)."""
    if not SLAPD.exists():
        pytest.fail(f"{SLAPD} is missing; install Debian's slapd package (apt-get install slapd ldap-utils)")
    folder.mkdir()
    server = LdapServer(folder)
    server.start()
    try:
        server.load()
        yield server
    finally:
        server.stop()
