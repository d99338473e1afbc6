"""The backend: array modules, devices, TINYALEX_DEVICE, and life without CuPy."""
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import tinyalex
from tinyalex import backend
from tinyalex import functional as F

PACKAGE = Path(tinyalex.__file__).parent


class FakeCupyArray:
    """Stands in for cupy.ndarray: like it, its own `.data` is a memory pointer, not an array."""

    def __init__(self, shape):
        self.shape, self.ndim, self.dtype = shape, len(shape), np.dtype(np.float32)
        self.data = object()
        self.device = types.SimpleNamespace(id=0)


@pytest.fixture
def fake_cupy(monkeypatch):
    """A CuPy module whose arrays are FakeCupyArray and that finds no CUDA device."""

    def no_device():
        raise RuntimeError("cudaErrorNoDevice")

    runtime = types.SimpleNamespace(getDeviceCount=no_device)
    module = types.SimpleNamespace(ndarray=FakeCupyArray, cuda=types.SimpleNamespace(runtime=runtime))
    monkeypatch.setattr(backend, "_cupy", module)
    return module


@pytest.fixture
def no_cupy(monkeypatch):
    monkeypatch.setattr(backend, "_cupy", None)


def test_get_array_module_follows_the_inputs(xp):
    a = xp.zeros(3)
    assert backend.get_array_module(a) is xp
    assert backend.get_array_module(tinyalex.Tensor(a)) is xp
    assert backend.get_array_module(np.zeros(2), a) is xp  # any GPU array makes it cupy
    assert backend.get_array_module(1.5, None) is np


def test_get_array_module_finds_cupy_arrays_and_tensors(fake_cupy):
    # a cupy.ndarray's `.data` is a MemoryPointer, so looking only at `.data` misses the array itself
    a = FakeCupyArray((2, 3))
    assert backend.get_array_module(a) is fake_cupy
    assert backend.get_array_module(np.zeros(1), tinyalex.Tensor(a)) is fake_cupy


def test_mixed_devices_name_the_op_and_both_devices(fake_cupy):
    with pytest.raises(backend.DeviceError) as error:
        F.conv2d(np.zeros((1, 1, 3, 3), np.float32), FakeCupyArray((1, 1, 2, 2)))
    message = str(error.value)
    assert "Conv2d" in message and "cpu" in message and "gpu:0" in message


@pytest.mark.gpu
def test_mixed_numpy_and_cupy_arrays_raise_naming_op_and_devices():
    cp = backend.require_gpu()
    x = np.ones((1, 2, 4, 4), np.float32)
    with pytest.raises(backend.DeviceError) as error:
        F.conv2d(x, cp.ones((3, 2, 3, 3), np.float32))
    assert "Conv2d" in str(error.value) and "cpu" in str(error.value) and "gpu:0" in str(error.value)
    with pytest.raises(backend.DeviceError, match="Linear"):
        F.linear(cp.ones((2, 3), np.float32), np.ones((4, 3), np.float32))


def test_device_of_and_check_same_device():
    assert backend.device_of(np.zeros(1)) == "cpu"
    backend.check_same_device("Op", [np.zeros(1), None, np.ones(2)])  # all on the host: no error


def test_import_tinyalex_without_cupy():
    # sys.modules["cupy"] = None makes `import cupy` raise ImportError, as on a machine without it
    code = (
        "import sys; sys.modules['cupy'] = None; sys.modules['cupyx'] = None\n"
        "import numpy as np, tinyalex\n"
        "from tinyalex import backend, functional as F\n"
        "assert not backend.cupy_available() and not backend.gpu_available()\n"
        "assert backend.resolve_device('auto') == 'cpu'\n"
        "x = tinyalex.Tensor(np.ones((1, 2, 5, 5), np.float32), requires_grad=True)\n"
        "F.max_pool2d(F.conv2d(x, np.ones((3, 2, 3, 3), np.float32)), 2).sum().backward()\n"
        "assert x.grad.shape == (1, 2, 5, 5)\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_only_the_backend_imports_cupy():
    importers = [
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if path.name != "backend.py" and any(
            line.strip().startswith(("import cupy", "from cupy")) for line in path.read_text().splitlines()
        )
    ]
    assert importers == []


def test_gpu_without_cupy_says_how_to_install_it(no_cupy):
    assert not backend.cupy_available() and not backend.gpu_available()
    for ask in (lambda: backend.resolve_device("gpu"), lambda: backend.to_gpu(np.zeros(2)),
                lambda: tinyalex.Tensor(np.zeros(2)).to("gpu")):
        with pytest.raises(backend.DeviceError, match=r"pip install cupy-cuda12x"):
            ask()


def test_gpu_with_cupy_but_no_device_says_so(fake_cupy):
    assert backend.cupy_available() and not backend.gpu_available()
    with pytest.raises(backend.DeviceError, match="no CUDA device"):
        backend.resolve_device("gpu")
    assert backend.resolve_device("auto") == "cpu"


@pytest.mark.parametrize("value, expected", [("cpu", "cpu"), ("CPU", "cpu"), ("auto", "cpu"), ("", "cpu")])
def test_tinyalex_device_environment_variable_without_gpu(no_cupy, monkeypatch, value, expected):
    monkeypatch.setenv("TINYALEX_DEVICE", value)
    assert backend.resolve_device(None) == expected


def test_tinyalex_device_gpu_without_cupy_raises(no_cupy, monkeypatch):
    monkeypatch.setenv("TINYALEX_DEVICE", "gpu")
    with pytest.raises(backend.DeviceError, match=r"pip install cupy-cuda12x"):
        backend.resolve_device(None)
    assert backend.resolve_device("cpu") == "cpu"  # an explicit argument wins over the variable


def test_unknown_device_names_the_choices(monkeypatch):
    with pytest.raises(ValueError, match="'cpu', 'gpu' or 'auto'"):
        backend.resolve_device("tpu")
    monkeypatch.setenv("TINYALEX_DEVICE", "tpu")
    with pytest.raises(ValueError, match="TINYALEX_DEVICE 'tpu'"):
        backend.resolve_device(None)
    with pytest.raises(ValueError, match="tpu"):
        backend.to_device(np.zeros(1), "tpu")


def test_to_cpu_and_to_device_cpu_keep_numpy_arrays():
    a = np.arange(3.0)
    assert backend.to_cpu(a) is a
    assert backend.to_device(a, "cpu") is a


@pytest.mark.gpu
def test_tinyalex_device_auto_and_gpu_pick_the_gpu(monkeypatch):
    for value in ("auto", "gpu"):
        monkeypatch.setenv("TINYALEX_DEVICE", value)
        assert backend.resolve_device(None) == "gpu"


@pytest.mark.gpu
def test_round_trip_between_host_and_gpu():
    cp = backend.require_gpu()
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    g = backend.to_gpu(a)
    assert isinstance(g, cp.ndarray) and backend.device_of(g) == "gpu:0"
    assert isinstance(backend.to_device(a, "gpu:0"), cp.ndarray)
    back = backend.to_cpu(g)
    assert isinstance(back, np.ndarray) and np.array_equal(back, a)
    t = tinyalex.Tensor(a, requires_grad=True).to("gpu")
    assert t.device == "gpu:0" and t.requires_grad and np.array_equal(t.numpy(), a)


@pytest.mark.parametrize("env, expected", [({}, "False None"), ({"TINYALEX_TF32": "1"}, "True 1"),
                                           ({"TINYALEX_TF32": "0"}, "False None"), ({"CUPY_TF32": "1"}, "True 1")])
def test_tf32_is_off_unless_asked_for_and_is_set_for_cupy_before_it_is_imported(env, expected):
    code = "import os; from tinyalex import backend; print(backend.tf32_enabled(), os.environ.get('CUPY_TF32'))"
    clean = {k: v for k, v in os.environ.items() if k not in ("TINYALEX_TF32", "CUPY_TF32")}
    done = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True)
    assert done.stdout.split() == expected.split(), done.stderr


def test_a_wrong_tf32_value_is_refused_by_name_when_the_gpu_is_chosen(monkeypatch):
    """`import tinyalex` works with any value (the command line refuses a wrong one with exit code 2:
    test_cli_options); TF32 stays off, and choosing the GPU stops with the variable's name."""
    clean = {k: v for k, v in os.environ.items() if k not in ("TINYALEX_TF32", "CUPY_TF32")}
    code = "import os; from tinyalex import backend; print(os.environ.get('CUPY_TF32')); backend.require_gpu()"
    done = subprocess.run([sys.executable, "-c", code], env={**clean, "TINYALEX_TF32": "yes"},
                          capture_output=True, text=True)
    assert done.stdout.split() == ["None"]
    assert "ValueError: TINYALEX_TF32 must be 0 or 1, got 'yes'" in done.stderr
    monkeypatch.setenv("TINYALEX_TF32", "on")
    assert backend.environment_problem() == "TINYALEX_TF32 must be 0 or 1, got 'on'"
    with pytest.raises(ValueError, match="TINYALEX_TF32 must be 0 or 1, got 'on'"):
        backend.resolve_device("gpu")
    assert backend.resolve_device("cpu") == "cpu"  # the CPU has no TF32 to set
