"""`tinyalex gradcheck`: a table of every op and layer, exit status 1 on any failure."""
import subprocess
import sys

import numpy as np

from tinyalex import Function, backend, checks, functional, nn
from tinyalex.cli.main import main


def table_rows(output):
    lines = output.splitlines()
    end = lines.index("")
    return lines[1:end]


def test_all_checks_pass_and_the_table_has_every_column(capsys):
    assert main(["gradcheck", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["op", "shapes", "max", "rel", "err", "result"]
    rows = table_rows(out)
    assert len(rows) == len(checks.all_checks())
    for row in rows:
        assert row.endswith("  pass")
        assert float(row.split()[-2]) < 1e-4  # the max relative error column
    assert f"{len(rows)} of {len(rows)} checks passed on cpu" in out


def test_every_op_and_layer_is_checked():
    names = {check.name for check in checks.all_checks()}
    ops = {"conv2d", "relu", "tanh", "local_response_norm", "max_pool2d", "dropout", "linear", "flatten",
           "softmax_cross_entropy", "softmax", "log_softmax", "exp", "log", "sum", "mean", "max", "reshape",
           "transpose"}
    assert ops <= set(functional.__all__)  # the names below are the functional API's
    assert ops <= names
    layers = {f"nn.{name}" for name in nn.__all__} - {"nn.Module", "nn.Parameter", "nn.Sequential"}
    assert layers <= names
    assert "conv-LRN-pool-linear-loss" in names  # Sequential, through the whole small stack


def test_names_select_checks(capsys):
    assert main(["gradcheck", "--device", "cpu", "max_pool2d", "nn.Linear"]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert [row.split()[0] for row in rows] == ["max_pool2d", "max_pool2d", "nn.Linear"]
    assert main(["gradcheck", "--device", "cpu", "no-such-op"]) == 2  # 1 would read as a wrong gradient
    said = capsys.readouterr().err
    assert said.startswith("tinyalex gradcheck: error: no check matches no-such-op; the checks are ")
    assert "max_pool2d, " in said and "local_response_norm" in said and "--directional adds" in said


class Square(Function):
    """x^2 with a backward of x instead of 2x."""

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, gy):
        return gy * self.x


def test_a_failing_check_gives_exit_status_one(capsys, monkeypatch):
    x = np.random.default_rng(0).standard_normal((2, 3)) + 3
    broken = checks.Check("broken_square", "x 2x3", lambda x: Square()(x), [x])
    real = checks.all_checks
    monkeypatch.setattr(checks, "all_checks", lambda seed=0: real(seed)[:2] + [broken])
    assert main(["gradcheck", "--device", "cpu"]) == 1
    out = capsys.readouterr().out
    rows = table_rows(out)
    assert rows[-1].split() == ["broken_square", "x", "2x3", "5.0e-01", "FAIL"]
    assert "2 of 3 checks passed" in out
    assert "FAIL broken_square (x 2x3): gradient of input 0 (shape (2, 3)) is wrong at" in out


def test_gpu_request_without_a_gpu_fails_cleanly(capsys, monkeypatch):
    monkeypatch.setattr(backend, "_cupy", None)
    assert main(["gradcheck", "--device", "gpu"]) == 2
    assert "pip install cupy-cuda12x" in capsys.readouterr().err


def test_command_line_entry_point():
    result = subprocess.run([sys.executable, "-m", "tinyalex", "gradcheck", "--device", "cpu", "local_response_norm"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "2 of 2 checks passed on cpu" in result.stdout
    helped = subprocess.run([sys.executable, "-m", "tinyalex", "gradcheck", "--help"], capture_output=True, text=True,
                            timeout=120)
    assert helped.returncode == 0 and "--device" in helped.stdout


def test_directional_adds_the_paper_sized_layers_and_passes(capsys):
    assert main(["gradcheck", "--device", "cpu", "--directional", "alexnet.norm1", "alexnet.conv2", "nn.Linear"]) == 0
    out = capsys.readouterr().out
    rows = table_rows(out)
    assert [row.split()[0] for row in rows] == ["nn.Linear", "alexnet.norm1", "alexnet.conv2"]
    assert "x 1x96x55x55" in rows[1] and "groups=2" in rows[2]
    assert "3 of 3 checks passed on cpu (float64, one random direction each)" in out
    assert main(["gradcheck", "--device", "cpu", "alexnet.conv2"]) == 2  # element by element they are not offered
    assert "no check matches alexnet.conv2" in capsys.readouterr().err


def test_every_paper_sized_layer_passes_directionally():
    names = [check.name for check in checks.paper_checks()]
    assert names == ["alexnet.conv1", "alexnet.norm1", "alexnet.pool1", "alexnet.conv2", "alexnet.norm2",
                     "alexnet.pool2", "alexnet.conv3", "alexnet.conv4", "alexnet.conv5", "alexnet.pool5", "alexnet.fc8"]
    for check in checks.paper_checks():
        assert check.run("cpu", directional=True) < 1e-6, check.name


def test_directional_fails_a_wrong_backward_in_a_full_size_grouped_convolution(capsys, monkeypatch):
    """conv2's weight gradient with its two towers' halves swapped: right shapes, wrong numbers."""
    from tinyalex.ops import conv2d

    right = conv2d.Conv2d.backward

    def swapped_towers(self, gy):
        gx, gw, *rest = right(self, gy)
        half = gw.shape[0] // 2
        return (gx, np.concatenate([gw[half:], gw[:half]]), *rest)

    monkeypatch.setattr(conv2d.Conv2d, "backward", swapped_towers)
    assert main(["gradcheck", "--device", "cpu", "--directional", "alexnet.conv2"]) == 1
    out = capsys.readouterr().out
    assert table_rows(out)[0].split()[-1] == "FAIL"
    assert "FAIL alexnet.conv2" in out and "directional derivative along a random direction" in out


def test_directional_flag_fails_a_broken_user_check(capsys, monkeypatch):
    x = np.random.default_rng(0).standard_normal((2, 3)) + 3
    broken = checks.Check("broken_square", "x 2x3", lambda x: Square()(x), [x])
    monkeypatch.setattr(checks, "all_checks", lambda seed=0: [broken])
    monkeypatch.setattr(checks, "paper_checks", lambda seed=0: [])
    assert main(["gradcheck", "--device", "cpu", "--directional"]) == 1
    assert table_rows(capsys.readouterr().out)[0].split()[-1] == "FAIL"
