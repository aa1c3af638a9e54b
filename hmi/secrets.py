"""Secrets in the plant file: a password written inline, or read from the environment or a file at load.

The value never appears in a repr, a log line, a config snapshot, an audit row or an export: every place that
writes configuration out shows `fingerprint()` instead, a slow salted hash that still changes when the secret
changes (21 CFR 11.10(d) limits access to the people authorised; a readable password in the audit trail would
hand the PLC account to every auditor).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

# scrypt makes guessing a weak password from its fingerprint slow (~30 ms a guess); the salt is fixed so the same
# secret always shows the same fingerprint and a change is visible from one snapshot to the next.
_SALT = b"factory-hmi secret fingerprint v1"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 16}
# A secret file holds the secret and nothing else; anything this large is the wrong file.
MAX_SECRET_FILE_BYTES = 64 * 1024
INLINE_WARNING = (
    "the secret is written in the plant file, where everyone who can read the file or its backups can read it; "
    "write {env: VARIABLE} or {file: /run/secrets/NAME} instead"
)


def fingerprint(value: str) -> str:
    """'scrypt:1a2b…' (16 bytes hex): shows whether a secret changed without revealing it."""
    return "scrypt:" + hashlib.scrypt(value.encode("utf-8"), salt=_SALT, **_SCRYPT).hex()


_REDACTED = re.compile(r"<redacted scrypt:[0-9a-f]{32}>")


def redacted(value: str) -> str:
    """The text written wherever configuration is serialised in place of the secret (idempotent)."""
    return value if is_redacted(value) else f"<redacted {fingerprint(value)}>"


def is_redacted(value: str) -> bool:
    """True when `value` is already a redacted secret, not the secret itself."""
    return _REDACTED.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret value and where it came from: `inline` (the plant file), `env` or `file`."""

    value: str = field(repr=False)
    origin: str = "inline"
    ref: str = ""

    def reveal(self) -> str:
        """The secret itself: only for the one place that hands it to the server it authenticates with."""
        return self.value

    def describe(self) -> str:
        """Where the secret comes from, for messages: 'the plant file', 'environment variable X', 'file /p'."""
        if self.origin == "env":
            return f"environment variable {self.ref}"
        if self.origin == "file":
            return f"file {self.ref}"
        return "the plant file"

    def warnings(self) -> list[str]:
        """What `hmi check` should point out about this secret (inline, or a file others may read)."""
        if self.origin == "inline":
            return [INLINE_WARNING]
        if self.origin == "file":
            try:
                mode = Path(self.ref).stat().st_mode
            except OSError:
                return []
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                return [
                    f"secret file {self.ref} can be read by other users (mode {stat.filemode(mode)}); "
                    f"run: chmod 600 {self.ref}"
                ]
        return []

    def __str__(self) -> str:
        return f"<secret from {self.describe()}>"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        """Accept text, {env: NAME} or {file: /path}; serialise as the redacted fingerprint."""
        return core_schema.no_info_plain_validator_function(
            resolve_secret,
            serialization=core_schema.plain_serializer_function_ser_schema(lambda s: redacted(s.value)),
        )


FORMS = "write the secret as text, {env: VARIABLE} or {file: /absolute/path}"


def resolve_secret(raw: Any) -> Secret:
    """A Secret from what the plant file holds; ValueError naming the variable or file and the fix."""
    if isinstance(raw, Secret):
        return raw
    if isinstance(raw, str):
        if not raw:
            raise ValueError("the secret is empty; " + FORMS)
        if is_redacted(raw):
            raise ValueError(
                "this is a redacted copy (a fingerprint), not the secret; give the secret itself, e.g. {env: VARIABLE}"
            )
        return Secret(raw)
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        raise ValueError('YAML reads this secret as a number; write it in quotes, e.g. "1234"')
    if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in ("env", "file"):
        raise ValueError(FORMS)
    ((kind, ref),) = raw.items()
    if not isinstance(ref, str) or not ref.strip():
        raise ValueError(f"{kind} needs a name, e.g. {{env: PLC1_PASSWORD}} or {{file: /run/secrets/plc1}}")
    ref = ref.strip()
    if kind == "env":
        value = os.environ.get(ref)
        if value is None:
            raise ValueError(
                f"environment variable {ref} is not set; set it in the HMI's environment (e.g. "
                f"Environment={ref}=... in its systemd unit) or name another source"
            )
        if not value:
            raise ValueError(f"environment variable {ref} is empty; give it the secret")
        return Secret(value, "env", ref)
    path = Path(ref).expanduser()
    if not path.is_absolute():
        raise ValueError(f"secret file {ref!r} is not an absolute path; write the full path, e.g. /run/secrets/plc1")
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_SECRET_FILE_BYTES + 1)
    except OSError as exc:
        raise ValueError(
            f"cannot read secret file {path} ({exc.strerror or exc}); create it with the secret as "
            "its only content, readable by the HMI's user alone (chmod 600), or correct the path"
        ) from None
    if len(data) > MAX_SECRET_FILE_BYTES:
        raise ValueError(
            f"secret file {path} is larger than {MAX_SECRET_FILE_BYTES} bytes; it must hold the secret alone"
        )
    try:
        # One trailing line break is how editors and `echo` end a file; it is not part of the secret.
        value = data.decode("utf-8").removesuffix("\n").removesuffix("\r")
    except UnicodeDecodeError:
        raise ValueError(f"secret file {path} is not UTF-8 text") from None
    if not value:
        raise ValueError(f"secret file {path} is empty; write the secret into it")
    return Secret(value, "file", str(path))
