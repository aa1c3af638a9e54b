"""The audit trail's HMAC key: a file outside the database, so write access to the database cannot forge rows.

21 CFR 11.10(e) asks for a secure audit trail; a plain hash chain can be recomputed by anyone who can write the
table, an HMAC chain only by someone who also holds this key. The key lives in the data directory (0600, created
on first start) or wherever $HMI_AUDIT_KEY_FILE / --key-file points, and is backed up separately from the database.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

KEY_ENV = "HMI_AUDIT_KEY_FILE"
KEY_FILE_NAME = "audit.key"
KEY_BYTES = 32


class AuditKeyError(Exception):
    """The audit key cannot be used (missing, unreadable, malformed); the message says which file and what to do."""


def resolve_key_file(explicit: Path | None, data_dir: Path | None) -> Path | None:
    """Where the key is: --key-file, else $HMI_AUDIT_KEY_FILE, else `audit.key` in the data directory, else None."""
    if explicit is not None:
        return explicit.expanduser().absolute()
    if env := os.environ.get(KEY_ENV, "").strip():
        return Path(env).expanduser().absolute()
    if data_dir is not None:
        return data_dir.expanduser().absolute() / KEY_FILE_NAME
    return None


def optional_key(explicit: Path | None, data_dir: Path | None) -> bytes | None:
    """The key for a command-line tool: --key-file / $HMI_AUDIT_KEY_FILE must exist; the data dir's may not yet."""
    path = resolve_key_file(explicit, data_dir)
    if path is None:
        return None
    if explicit is None and not os.environ.get(KEY_ENV, "").strip() and not path.exists():
        return None
    return load_key(path)


def load_key(path: Path) -> bytes:
    """The key in `path` (64 hex digits); AuditKeyError naming the file when it is missing or malformed."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise AuditKeyError(
            f"audit key file {path} does not exist; restore it from the key backup, or give "
            f"the right --key-file / {KEY_ENV}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditKeyError(f"audit key file {path} cannot be read ({exc})") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise AuditKeyError(
            f"audit key file {path} does not hold a key (expected {2 * KEY_BYTES} hex digits); "
            "restore it from the key backup"
        ) from None
    if len(key) < KEY_BYTES:
        raise AuditKeyError(f"audit key file {path} holds only {len(key)} bytes; at least {KEY_BYTES} are needed")
    return key


def load_or_create_key(path: Path) -> tuple[bytes, bool]:
    """The key in `path`, creating a new random one (0600, in a 0700 folder) if there is none; (key, created)."""
    from hmi.private_files import create_private_file

    created = create_private_file(path, (secrets.token_hex(KEY_BYTES) + "\n").encode("ascii"))
    return load_key(path), created


def key_id(key: bytes) -> str:
    """A short public name of the key (not the key, nor a plain hash of it): tells which key wrote a trail."""
    return hmac.new(key, b"factory-hmi audit key id", hashlib.sha256).hexdigest()[:16]
