"""Reserve disk space for a file before writing into it through a memory map.

A memory map over a sparse file gets its disk blocks only when its pages are written back. On a
full disk there is then no error to raise: the kernel stops the process with SIGBUS ("Bus error")
and whatever was in flight is lost. Allocating the blocks first (``posix_fallocate``) turns that
into an ordinary ENOSPC error, raised before a single image is written.
"""
from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from tinyalex.data.errors import DataError

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(DataError):
    """The disk cannot hold a file that is about to be written; nothing was written into it."""


def gib(size: float) -> str:
    return f"{size / 2 ** 30:.2f} GiB"


def reserve(path: Path, size: int, what: str) -> None:
    """Allocate ``size`` bytes of disk for the file ``path`` (which must exist); raise DiskFullError,
    naming ``what`` the file is for, when the disk cannot hold them.

    Where ``posix_fallocate`` is missing or the file system does not support it, the free space
    is checked instead (a weaker promise: another writer may take the space meanwhile).
    """
    fd = os.open(path, os.O_RDWR)
    try:
        try:
            os.posix_fallocate(fd, 0, size)
            return
        except AttributeError:  # not on this platform (macOS)
            pass
        except OSError as exc:
            if exc.errno in DISK_FULL:
                raise DiskFullError(full_message(path, size, what)) from None
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise
        allocated = os.fstat(fd).st_blocks * 512
        if size - allocated > shutil.disk_usage(path.parent).free:
            raise DiskFullError(full_message(path, size, what))
    finally:
        os.close(fd)


def full_message(path: Path, size: int, what: str) -> str:
    free = shutil.disk_usage(path.parent).free
    return (f"not enough free space in {path.parent} for {what}: {path.name} needs {gib(size)}, the disk has "
            f"{gib(free)} free")
