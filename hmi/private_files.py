"""Files only the HMI's own account may read: the data directory (0700), secrets, keys and anchors (0600).

Modes are set at creation with os.open/mkdir and then fixed with chmod, so they hold whatever the umask is: a file
never exists, even for a moment, with wider rights than its final ones (21 CFR 11.10(d), limiting system access).
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) as 0700 if it does not exist yet; an existing folder is left as it is."""
    path = path.expanduser().absolute()
    if not path.is_dir():
        missing = [p for p in (path, *path.parents) if not p.exists()]
        # Create from the top down so every folder this call creates is private, not just the last one.
        for folder in reversed(missing):
            with contextlib.suppress(FileExistsError):
                folder.mkdir(mode=DIR_MODE)
                os.chmod(folder, DIR_MODE)  # mkdir's mode is reduced by the umask; chmod is not
    return path


def create_private_file(path: Path, data: bytes) -> bool:
    """Write `data` to a new 0600 file; False (and nothing written) if the file exists already.

    O_EXCL makes two processes starting at once agree on one file; O_NOFOLLOW refuses a planted symlink.
    """
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), FILE_MODE)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, FILE_MODE)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def append_private(path: Path, data: bytes) -> None:
    """Append `data` to `path` (created 0600 if missing) and flush it to disk before returning."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), FILE_MODE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
            # A file made by an older version (or by hand) with wider rights: narrowing them is always safe.
            os.fchmod(fd, FILE_MODE)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
