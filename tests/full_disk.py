"""Run a Python script with a tiny RAM disk as its output folder, to see what a really full disk does.

The disk is a tmpfs mounted in a private mount namespace (``unshare --user --map-root-user --mount``),
so no root rights are needed and nothing outside the script sees it. Where the kernel or the
container forbids that, the calling test is skipped with the reason.
"""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Prepend to a script: fill_the_disk(path) writes zeros to ``path`` until the disk is full, so that the
# very next write that needs a new block fails with ENOSPC.
FILL_THE_DISK = """
import errno as _errno, os as _os
def fill_the_disk(path):
    fd = _os.open(path, _os.O_WRONLY | _os.O_CREAT | _os.O_TRUNC)
    try:
        while True:
            _os.write(fd, bytes(1 << 16))
    except OSError as exc:
        if exc.errno != _errno.ENOSPC:
            raise
    finally:
        _os.close(fd)
"""

MOUNT_AND_RUN = 'mount -t tmpfs -o size="$1" tmpfs "$2" || exit 97; shift 2; exec "$@"'


def run_with_full_disk(folder: Path, script: str, size: str = "1m", env: dict | None = None,
                       timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python -c script FOLDER`` (in environment ``env``, default this one) with FOLDER a fresh
    ``size`` tmpfs; skip the test when one cannot be mounted."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) to mount a small tmpfs")
    folder.mkdir(parents=True, exist_ok=True)
    command = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", MOUNT_AND_RUN, "sh", size,
               str(folder), sys.executable, "-c", script, str(folder)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    if result.returncode == 97 or (result.returncode != 0 and "unshare:" in result.stderr):
        pytest.skip(f"cannot mount a tmpfs in a user namespace here: {result.stderr.strip()[:200]}")
    return result
