#!/usr/bin/env bash
# Install Open MPI (Debian packages) and mpi4py (into the active Python) for the
# data-parallel tests. Idempotent: each step is skipped when its tool is already there.
set -euo pipefail

if ! command -v mpirun >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends openmpi-bin >/dev/null
fi

if ! python -c "import mpi4py" >/dev/null 2>&1; then
    python -m pip install --quiet "mpi4py>=4,<5"
fi

mpirun --version | head -n 1
python -c "import mpi4py; print('mpi4py', mpi4py.__version__)"
