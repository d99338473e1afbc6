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


def amount(size: float) -> str:
    """Bytes in GiB, MiB or KiB, whichever is at least 1: 9.4 MiB against 5.7 read 0.01 GiB against 0.01."""
    for unit, scale in (("GiB", 2 ** 30), ("MiB", 2 ** 20)):
        if size >= scale:
            return f"{size / scale:.{2 if unit == 'GiB' else 1}f} {unit}"
    return f"{size / 2 ** 10:.1f} KiB"


def check_free(folder: Path, size: int, what: str) -> None:
    """Raise DiskFullError unless the disk of ``folder`` has ``size`` bytes free for ``what``."""
    free = shutil.disk_usage(folder).free
    if size > free:
        raise DiskFullError(f"not enough free space in {folder} for {what}: {amount(size)} more are needed, "
                            f"the disk has {amount(free)} free")


def reserve(path: Path, size: int, what: str) -> None:
    """Allocate ``size`` bytes of disk for the file ``path`` (which must exist); raise DiskFullError,
    naming ``what`` the file is for, when the disk cannot hold them.

    The free space is checked first, so that a file too big for the disk takes nothing from it.
    Where ``posix_fallocate`` is missing or the file system does not support it, that check is all
    (a weaker promise: another writer may take the space meanwhile). If the allocation still fails
    (another writer took the space), the blocks it got are handed back, as long as the file held
    nothing but its header (``keep`` bytes) before.
    """
    fd = os.open(path, os.O_RDWR)
    try:
        allocated = os.fstat(fd).st_blocks * 512
        free = shutil.disk_usage(path.parent).free
        if size - allocated > free:
            raise DiskFullError(full_message(path, size, what, free))
        try:
            os.posix_fallocate(fd, 0, size)
        except AttributeError:  # not on this platform (macOS)
            pass
        except OSError as exc:
            if exc.errno in DISK_FULL:
                if allocated <= HEADER_BLOCKS:
                    _release(fd, size)
                raise DiskFullError(full_message(path, size, what, free)) from None
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise
    finally:
        os.close(fd)


HEADER_BLOCKS = 64 * 1024  # bytes of disk a file holding only an .npy header may take


def _release(fd: int, size: int) -> None:
    """Hand back the blocks of a file that holds only its header: keep the header, drop the rest."""
    header = os.pread(fd, HEADER_BLOCKS, 0)
    os.ftruncate(fd, 0)
    os.pwrite(fd, header, 0)
    os.ftruncate(fd, size)  # the same length again, sparse


def full_message(path: Path, size: int, what: str, free: int | None = None) -> str:
    free = shutil.disk_usage(path.parent).free if free is None else free
    return (f"not enough free space in {path.parent} for {what}: {path.name} needs {amount(size)}, the disk has "
            f"{amount(free)} free")
