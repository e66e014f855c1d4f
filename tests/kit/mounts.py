"""Real small file systems for fault tests: a full disk, a read-only one, a busy mount point.

A full disk is a tmpfs of a few hundred KiB (`mount -t tmpfs -o size=...`), filled with a
padding file until the kernel answers ENOSPC; a read-only file system is a tmpfs mounted `ro`
(EROFS); a busy target is a file bind-mounted over another (renaming onto it gives EBUSY); no
permission (EACCES) is root without the capabilities that bypass file modes.
Mounting needs root (CAP_SYS_ADMIN): where the kernel refuses, the test is skipped with the
reason, or fails when CI is set (kit.require). Every mount is lazily unmounted on exit, so a test
that leaves a file open there still cleans up.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from kit.require import require_or_skip

__all__ = ["bind_mount", "fill", "free_bytes", "tmpfs", "without_dac_override"]


def _mount(*args: str) -> None:
    result = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        reason = result.stderr.strip() or f"exit {result.returncode}"
        require_or_skip(f"cannot mount here (mount {' '.join(args)}: {reason}); needs root")


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


@contextlib.contextmanager
def tmpfs(path: Path, *, size: str = "512k", read_only: bool = False) -> Iterator[Path]:
    """A fresh tmpfs of ``size`` at ``path`` (created), read-only if asked; unmounted on exit."""
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size},mode=0777" + (",ro" if read_only else "")
    _mount("-t", "tmpfs", "-o", options, "tmpfs", str(path))
    try:
        yield path
    finally:
        _umount(path)


@contextlib.contextmanager
def bind_mount(source: Path, target: Path) -> Iterator[Path]:
    """``source`` bind-mounted over ``target`` (both must exist); unmounted on exit."""
    _mount("--bind", str(source), str(target))
    try:
        yield target
    finally:
        _umount(target)


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer could still write on the file system of ``path``."""
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def fill(path: Path, *, leave: int = 0) -> Path:
    """Write a padding file in directory ``path`` until its file system is full, or has only
    about ``leave`` bytes left (rounded to pages); return the padding file."""
    pad = path / "padding"
    chunk = b"\0" * 4096
    with pad.open("wb", buffering=0) as out:  # unbuffered: nothing is left to flush on close
        while free_bytes(path) > leave:
            try:
                out.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
    return pad


def without_dac_override() -> list[str]:
    """An argv prefix that runs a command as root minus the capabilities that bypass file
    permissions (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so a mode 0555 directory is refused
    with EACCES as it would be for any other user. Needs root and util-linux's ``setpriv``."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        require_or_skip("dropping CAP_DAC_OVERRIDE needs root and setpriv (util-linux)")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search"]
