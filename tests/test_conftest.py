"""tests/conftest.py: in CI a test that skips for want of PyTorch or MPI fails; by hand it skips."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CASES = """
import sys
import pytest
sys.modules["torch"] = None  # what a torch that is missing looks like to importorskip

def test_torch_in_the_test():
    pytest.importorskip("torch")

def test_mpi():
    pytest.skip("mpirun not found (install Open MPI: see .ci/install-mpi.sh)")

def test_no_gpu():
    pytest.skip("needs CuPy and a CUDA device")

@pytest.mark.xfail(reason="could not import 'torch' (an expected failure, not a skip)")
def test_expected_to_fail():
    assert False
"""
MODULE = """
import sys
import pytest
sys.modules["torch"] = None
torch = pytest.importorskip("torch")

def test_never_collected():
    pass
"""


def outcomes(folder: Path, ci: str | None) -> tuple[int, str]:
    """Run pytest on ``folder`` with CI=ci (None: unset): its exit status and report."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", str(folder)],
                            capture_output=True, text=True, env=env, cwd=folder)
    return result.returncode, result.stdout


def folder_of(root: Path, name: str, text: str) -> Path:
    """``root/name.py`` holding ``text``, beside a copy of this conftest.py."""
    root.mkdir()
    shutil.copy(Path(__file__).with_name("conftest.py"), root / "conftest.py")
    (root / f"{name}.py").write_text(text)
    return root


@pytest.mark.parametrize("ci", ["true", "1"])
def test_in_ci_a_missing_torch_or_mpi_fails_instead_of_skipping(tmp_path, ci):
    code, out = outcomes(folder_of(tmp_path / "cases", "test_cases", CASES), ci)
    assert code == 1 and out.splitlines()[-1].startswith("2 failed, 1 skipped, 1 xfailed"), out
    assert "FAILED test_cases.py::test_torch_in_the_test - CI=" + ci + ": in CI a missing reference fails " \
           "instead of skipping: Skipped: could not import 'torch'" in out, out
    assert "FAILED test_cases.py::test_mpi - " in out and "mpirun not found" in out
    assert "SKIPPED [1] test_cases.py" in out and "needs CuPy and a CUDA device" in out  # other skips stay skips
    code, out = outcomes(folder_of(tmp_path / "module", "test_module", MODULE), ci)
    assert code == 2 and f"ERROR test_module.py - CI={ci}: in CI a missing reference fails" in out, out


@pytest.mark.parametrize("ci", [None, "", "false", "0"])
def test_by_hand_they_skip(tmp_path, ci):
    code, out = outcomes(folder_of(tmp_path / "cases", "test_cases", CASES), ci)
    assert code == 0 and out.splitlines()[-1].startswith("3 skipped, 1 xfailed"), out
    code, out = outcomes(folder_of(tmp_path / "module", "test_module", MODULE), ci)
    assert code == 5 and out.splitlines()[-1].startswith("1 skipped"), out  # 5: no test ran
