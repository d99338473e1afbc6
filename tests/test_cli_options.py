"""Every numeric option of train, evaluate, predict, prepare, figures, gradcheck and ablate is checked
before anything runs: exit code 2 (argparse's) and a message naming the option and the allowed range.
Any command stops on Ctrl-C, and warns, in one line."""
import importlib
import warnings
from pathlib import Path

import pytest

from tinyalex import backend, checks
from tinyalex.cli import ablate, figures, train
from tinyalex.cli.main import main


@pytest.fixture(autouse=True)
def no_training(monkeypatch):
    """Reaching the data means a bad value got through: fail fast instead of training."""
    def reached(*args, **kwargs):
        raise AssertionError("the command started working with an invalid option")

    monkeypatch.setattr(train, "open_data", reached)
    monkeypatch.setattr(figures, "write_model_figures", reached)
    monkeypatch.setattr(checks, "all_checks", reached)
    monkeypatch.setattr(ablate, "run_ablation", reached)
    monkeypatch.setattr(ablate, "measure_lrn_range", reached)

# (command line, option named in the message, the range it states)
BAD = [
    (["train", "--epochs", "0"], "--epochs", ">= 1"),
    (["train", "--epochs", "-3"], "--epochs", ">= 1"),
    (["train", "--batch-size", "0"], "--batch-size", ">= 1"),
    (["train", "--lr", "-0.01"], "--lr", "0 < value"),
    (["train", "--lr", "0"], "--lr", "0 < value"),
    (["train", "--lr", "nan"], "--lr", "0 < value"),
    (["train", "--lr", "inf"], "--lr", "0 < value"),
    (["train", "--momentum", "1.5"], "--momentum", "0 <= value < 1"),
    (["train", "--momentum", "1"], "--momentum", "0 <= value < 1"),
    (["train", "--momentum", "-1"], "--momentum", "0 <= value < 1"),
    (["train", "--weight-decay", "-0.0005"], "--weight-decay", "0 <= value"),
    (["train", "--patience", "0"], "--patience", ">= 1"),
    (["train", "--seed", "-1"], "--seed", ">= 0"),
    (["train", "--workers", "-2"], "--workers", ">= 0"),
    (["train", "--epochs", "2.5"], "--epochs", ">= 1"),
    (["predict", "x.npz", "y.jpg", "--top", "0"], "--top", ">= 1"),
    (["predict", "x.npz", "y.jpg", "--top", "-1"], "--top", ">= 1"),
    (["evaluate", "x.npz", "--batch-size", "0"], "--batch-size", ">= 1"),
    (["prepare", "src", "--out", "o", "--size", "0"], "--size", ">= 1"),
    (["prepare", "src", "--out", "o", "--seed", "-5"], "--seed", ">= 0"),
    (["prepare", "src", "--out", "o", "--train-per-class", "0"], "--train-per-class", ">= 1"),
    (["prepare", "src", "--out", "o", "--val-per-class", "-1"], "--val-per-class", ">= 1"),
    (["prepare", "src", "--out", "o", "--workers", "0"], "--workers", ">= 1"),
    (["prepare", "src", "--out", "o", "--classes", "0"], "--classes", ">= 1"),
    (["figures", "x.npz", "--queries", "0"], "--queries", "in 1..50"),
    (["figures", "x.npz", "--queries", "1000"], "--queries", "in 1..50"),
    (["figures", "x.npz", "--neighbours", "-1"], "--neighbours", "in 1..50"),
    (["figures", "x.npz", "--gallery", "0"], "--gallery", ">= 1"),
    (["figures", "x.npz", "--seed", "-1"], "--seed", ">= 0"),
    (["figures", "x.npz", "--batch-size", "0"], "--batch-size", ">= 1"),
    (["figures", "x.npz", "--queries", "2.5"], "--queries", "in 1..50"),
    (["gradcheck", "--seed", "-1"], "--seed", "in 0..4294967295"),
    (["gradcheck", "--seed", "4294967296"], "--seed", "in 0..4294967295"),
    (["gradcheck", "--seed", "x"], "--seed", "in 0..4294967295"),
    (["ablate", "--seeds", "0"], "--seeds", ">= 1"),
    (["ablate", "--seed", "-1"], "--seed", ">= 0"),
    (["ablate", "--epochs", "0"], "--epochs", ">= 1"),
    (["ablate", "--train-images", "0"], "--train-images", ">= 1"),
    (["ablate", "--val-images", "-1"], "--val-images", ">= 1"),
    (["ablate", "--width", "0"], "--width", "0 < value"),
    (["ablate", "--crop", "0"], "--crop", ">= 1"),
    (["ablate", "--batch-size", "0"], "--batch-size", ">= 1"),
    (["ablate", "--lr", "-0.01"], "--lr", "0 < value"),
    (["ablate", "--lr", "nan"], "--lr", "0 < value"),
    (["ablate", "--momentum", "1"], "--momentum", "0 <= value < 1"),
    (["ablate", "--weight-decay", "-1"], "--weight-decay", "0 <= value"),
    (["ablate", "--workers", "-1"], "--workers", ">= 0"),
    (["bench", "--batch-size", "64", "0"], "--batch-size", ">= 1"),
    (["bench", "--rounds", "0"], "--rounds", ">= 1"),
    (["bench", "--steps", "0"], "--steps/--repeats", ">= 1"),
    (["bench", "--warmup", "-1"], "--warmup", ">= 0"),
    (["bench", "--image-size", "0"], "--image-size", ">= 1"),
    (["bench", "--width", "-0.5"], "--width", "0 < value"),
]


@pytest.mark.parametrize("argv,option,allowed", BAD, ids=[" ".join(a[:1] + a[-2:]) for a, _, _ in BAD])
def test_out_of_range_numbers_stop_the_command_with_exit_code_2(argv, option, allowed, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert f"argument {option}: must be" in err and allowed in err, err
    assert list(tmp_path.iterdir()) == []  # nothing was created: no runs/ folder, no output folder


def test_the_message_shows_the_rejected_value(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--momentum", "1.5"])
    assert "argument --momentum: must be a number with 0 <= value < 1, got 1.5" in capsys.readouterr().err


def test_ctrl_c_in_any_command_stops_with_one_line_and_no_traceback(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib.import_module("tinyalex.cli.evaluate"), "run", interrupted)
    assert main(["evaluate", "any.npz"]) == 130
    assert capsys.readouterr().err == "\ntinyalex: interrupted\n"


def test_a_warning_is_one_line_on_stderr(monkeypatch, capsys):
    def warns(args):
        warnings.warn("skipping 1 entry of somewhere: x.jpg (broken symbolic link)")
        return 0

    monkeypatch.setattr(importlib.import_module("tinyalex.cli.predict"), "run", warns)
    assert main(["predict", "any.npz", "x.jpg"]) == 0
    assert capsys.readouterr().err == "tinyalex: warning: skipping 1 entry of somewhere: x.jpg (broken symbolic link)\n"


@pytest.mark.parametrize("argv, message", [
    (["figures", "x.npz", "--out", "afile"], "--out: afile is a file, not a folder"),
    (["figures", "x.npz", "--out", "afile/sub"], "--out: afile is a file, not a folder: afile/sub cannot be created"),
    (["ablate", "--out", "afile"], "--out: afile is a file, not a folder"),
    (["train", "--out", "afile"], "--out: afile is a file, not a folder"),
    (["train", "--out", "afile/sub"], "--out: afile is a file, not a folder: afile/sub cannot be created"),
    (["bench", "--json", "adir"], "--json: adir is a folder, not a file"),
    (["bench", "--json", "nowhere/x.json"], "--json: nowhere is not a folder: nowhere/x.json cannot be written"),
])
def test_an_output_path_that_cannot_be_written_stops_the_command_before_the_work(argv, message, tmp_path,
                                                                                monkeypatch, capsys):
    """These were tracebacks; bench's came after all the timing was done."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    monkeypatch.setattr(importlib.import_module("tinyalex.bench.suite"), "run_benchmark",
                        lambda *args, **kwargs: pytest.fail("the benchmark ran"))
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["train", "--out", "locked/run"], "--out: locked is not writable by this user: locked/run cannot be created"),
    (["figures", "x.npz", "--out", "locked"], "--out: locked is not writable by this user"),
    (["ablate", "--out", "locked/a"], "--out: locked is not writable by this user"),
    (["bench", "--json", "locked/b.json"], "--json: locked is not writable by this user: locked/b.json cannot be"),
])
def test_an_output_folder_without_write_access_is_refused_before_the_work(argv, message, tmp_path, monkeypatch,
                                                                           capsys):
    """A PermissionError traceback (bench's after all its timing); root may write anywhere, so access is faked."""
    from tinyalex.cli import options

    monkeypatch.chdir(tmp_path)
    (tmp_path / "locked").mkdir()
    monkeypatch.setattr(options.os, "access", lambda path, mode: Path(path).name != "locked")
    monkeypatch.setattr(importlib.import_module("tinyalex.bench.suite"), "run_benchmark",
                        lambda *args, **kwargs: pytest.fail("the benchmark ran"))
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("variable, value, message", [
    ("TINYALEX_DEVICE", "cuda0", "unknown TINYALEX_DEVICE 'cuda0': expected 'cpu', 'gpu' or 'auto'"),
    ("TINYALEX_TF32", "yes", "TINYALEX_TF32 must be 0 or 1, got 'yes'"),
])
@pytest.mark.parametrize("argv", [["train"], ["evaluate", "x.npz"], ["predict", "x.npz", "y.jpg"],
                                  ["prepare", "src", "--out", "o"], ["figures", "x.npz"], ["ablate"], ["gradcheck"],
                                  ["bench"]])
def test_a_misspelt_environment_variable_stops_every_command_with_exit_code_2(argv, variable, value, message,
                                                                             monkeypatch, capsys):
    """Both were tracebacks (TINYALEX_TF32's on `import tinyalex`); train ignored TINYALEX_DEVICE altogether."""
    monkeypatch.setenv(variable, value)
    monkeypatch.setattr(importlib.import_module(f"tinyalex.cli.{argv[0]}"), "run",
                        lambda args: pytest.fail("the command ran"))
    assert main(argv) == 2
    assert capsys.readouterr().err == f"tinyalex {argv[0]}: error: {message}\n"


@pytest.mark.parametrize("command", ["train", "evaluate", "predict", "figures", "ablate", "gradcheck", "bench"])
def test_every_command_leaves_the_device_to_tinyalex_device_unless_given(command, monkeypatch):
    """train, evaluate and predict defaulted to auto, figures and ablate to cpu, whatever TINYALEX_DEVICE said."""
    seen = []
    monkeypatch.setattr(importlib.import_module(f"tinyalex.cli.{command}"), "run",
                        lambda args: seen.append(args.device) or 0)
    needs = {"evaluate": ["x.npz"], "predict": ["x.npz", "y.jpg"], "figures": ["x.npz"]}.get(command, [])
    main([command, *needs])
    main([command, *needs, "--device", "cpu"])
    assert seen == [None, "cpu"]  # None: backend.resolve_device reads TINYALEX_DEVICE, else auto


@pytest.mark.parametrize("argv, code", [(["gradcheck"], 2), (["bench"], 2), (["train", "--out", "run"], 1)])
def test_a_gpu_that_is_not_there_is_an_error_line_naming_what_to_install(argv, code, tmp_path, monkeypatch, capsys):
    """gradcheck and bench keep exit code 1 for a wrong gradient and a PyTorch twin that differs."""
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "--device", "gpu"]) == code
    assert capsys.readouterr().err.startswith(f"tinyalex {argv[0]}: error: the GPU was requested but CuPy is not "
                                              "installed: install CuPy: the wheel for your CUDA version, e.g. "
                                              "`pip install cupy-cuda12x`")


def test_version_prints_the_packages_version(capsys):
    import tinyalex

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out == f"tinyalex {tinyalex.__version__}\n"
