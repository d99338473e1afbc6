"""The lesson notebooks (lessons/) and their graded exercises.

- Every lesson has graded exercises (two at least, as many as lessons/README.md counts), each followed by a check
  cell.
- The checks pass on the solutions, say "not done yet" on the stubs, and fail on a plausible wrong answer
  of each exercise (WRONG below) in each check of 30 fixed seeds (three cases each, as a student's check
  runs); the case generators never draw a case where such a wrong answer equals the right one (CASE_RULES),
  or draw it in a given case of every check (no padding in the first). These run the exercise and check
  cells in this process, in seconds.
- The student notebooks, as shipped, run top to bottom without an error and never say PASS; the solution
  versions, executed the same way, pass every check. How long they take is not tested (a timed test fails on a
  slow or busy machine): lessons/build.py prints it.
- The text quotes numbers only through fields filled in from the notebook's own recorded output
  (lessons/facts.py), the qualitative claims around them hold (CLAIMS), "Expected" outputs appear, and the
  numbers that do not depend on the machine come out the same when the notebook runs again.
- The switch to the student's own data (DATA) works, on an ImageNet-layout folder and on a set written by
  `tinyalex prepare`, and shows class names; lessons/gpu_outputs.py runs (on
  the CPU here) and writes what lessons 1, 4 and 6 read.
- Each notebook matches its source, is listed in lessons/README.md, and its committed outputs are complete,
  small and hold no absolute paths or machine names.

Executing every notebook twice takes several minutes on a 2-core CPU; the `executed` fixture runs two kernels at a
time, with one thread each, in one scratch data folder (so the embedded data set is generated once).
"""
import functools
import json
import math
import re
import socket
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

import lesson_cells  # noqa: E402  (tests/lesson_cells.py)

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ROOT / "lessons"
CELL_SECONDS = 600  # a cell still running after this has hung; how long lessons take is measured by
# lessons/build.py (lessons/README.md), never asserted here
MAX_BYTES = 300_000
# Absolute paths of the usual home, scratch and work folders, on Linux, macOS and Windows.
ABSOLUTE_PATH = re.compile(r"(?<![\w.])(/work|/root|/home|/tmp|/Users|/private|/var/folders|[A-Za-z]:\\\\?Users)\b")
LESSONS_WITH_DATA = ("05", "09", "11", "12")  # a DATA switch in the first code cell
SWITCH_KINDS = ("imagenet-layout", "prepared")  # what DATA names: a raw ImageNet-layout folder, a prepared set
LESSONS_WITH_GPU = ("01", "04", "06")  # show lessons/saved/gpu.json when it is there
WRONG_SEEDS = range(30)  # each wrong answer must FAIL in the check (three cases) of each of these seeds


build = lesson_cells.load_build()
import facts  # noqa: E402  (lessons/facts.py, on the path since build.py put it there)
import gpu_outputs  # noqa: E402
import lesson_data  # noqa: E402  (lessons/lesson_data.py)

SOURCES = build.sources_in_order()
NOTEBOOKS = [build.notebook_path(s) for s in SOURCES]

# A plausible wrong answer per exercise function, at least one each: (what it is, text of the solution, replaced by).
WRONG = {
    "c_strides": [("the strides in reverse order", "return tuple(reversed(strides))", "return tuple(strides)"),
                  ("each axis counts itself", "step *= size", "step *= size + 1")],
    "to_nchw": [("a reshape instead of a transpose", "images.transpose(0, 3, 1, 2)", "images.reshape(len(images), 3, *images.shape[1:3])"),
                ("H and W swapped", "images.transpose(0, 3, 1, 2)", "images.transpose(0, 3, 2, 1)"),
                ("no copy: not contiguous", "np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32)",
                 "images.transpose(0, 3, 1, 2).astype(np.float32, copy=False)")],
    "topological_order": [("not reversed", "return order[::-1]", "return order"),
                          ("listed before its inputs are visited", "        order.append(f)           # after everything it depends on\n", ""),
                          ("no record of visited functions", "if f is None or id(f) in seen:", "if f is None:")],
    "linear_backward": [("a missing transpose", "gy.T @ x", "x.T @ gy"), ("the bias gradient averaged", "gy.sum(axis=0)", "gy.mean(axis=0)")],
    "softmax_cross_entropy_backward": [("not divided by N", "return p / len(z)", "return p"),
                                       ("the wrong sign", "p[np.arange(len(z)), labels] -= 1", "p[np.arange(len(z)), labels] += 1"),
                                       ("no shift before exp", "np.exp(z - z.max(axis=1, keepdims=True))", "np.exp(z)")],
    "numeric_gradient": [("a one-sided difference", "(f(up) - f(down)) / (2 * h)", "(f(up) - f(x)) / h"),
                         ("divided by h, not 2h", "(f(up) - f(down)) / (2 * h)", "(f(up) - f(down)) / h"),
                         ("x changed in place", "up, down = x.copy(), x.copy()", "up, down = x, x.copy()")],
    "leaky_relu_backward": [("the slope forgotten", "np.where(x > 0, gy, slope * gy)", "np.where(x > 0, gy, 0)"),
                            ("the wrong sign", "np.where(x > 0, gy, slope * gy)", "np.where(x > 0, gy, -slope * gy)")],
    "im2col": [("the stride forgotten in one axis", "v:v + stride * ow:stride]", "v:v + ow]"),
               ("u and v swapped", "col[:, :, u, v] = padded", "col[:, :, v % kh, u % kw] = padded")],
    "col2im": [("overwriting instead of adding", "+= col[:, :, u, v]", "= col[:, :, u, v]"),
               ("the padding cut off with negative ends", "return padded[:, :, pad:pad + h, pad:pad + w]",
                "return padded[:, :, pad:-pad, pad:-pad]"),
               ("the padding cut off one pixel early", "return padded[:, :, pad:pad + h, pad:pad + w]",
                "return padded[:, :, pad - 1:pad - 1 + h, pad:pad + w]")],
    "conv_backward": [("the weight gradient's sign", "dw = np.tensordot", "dw = -np.tensordot"),
                      ("the bias gradient averaged over images", "g.sum(axis=(0, 2, 3))", "g.sum(axis=(2, 3)).mean(axis=0)"),
                      ("kernel offsets swapped", "dcol.transpose(3, 0, 1, 2, 4, 5)", "dcol.transpose(3, 0, 2, 1, 4, 5)")],
    "relu_forward_backward": [("derivative 1 at zero", "gy * (x > 0)", "gy * (x >= 0)"), ("gy forgotten", "gy * (x > 0)", "(x > 0)")],
    "tanh_forward_backward": [("the derivative from the input", "gy * (1 - y**2)", "gy * (1 - x**2)"),
                              ("the wrong sign", "gy * (1 - y**2)", "gy * (1 + y**2)")],
    "lrn_forward": [("a window one channel too long", "min(channels - 1, i + n // 2)", "min(channels - 1, i + n // 2 + 1)"),
                    ("PyTorch's alpha / n", "(k + alpha * s) ** beta", "(k + alpha * s / n) ** beta")],
    "lrn_backward": [("the cross term's sign", "- 2 * alpha * beta * a[:, m]", "+ 2 * alpha * beta * a[:, m]"),
                     ("no window sum in the cross term", "q[:, lo:hi + 1].sum(axis=1)", "q[:, m]"),
                     ("the factor 2 forgotten", "2 * alpha * beta", "alpha * beta")],
    "window_sum_cpu": [("a shifted slice read unshifted", "s[:, d:] += squares[:, :-d]", "s[:, d:] += squares[:, d:]"),
                       ("values instead of squares", "squares = a * a", "squares = a"),
                       ("before and after swapped", "range(1, before + 1):\n        s[:, d:] += squares[:, :-d]\n    for d in range(1, after + 1)",
                        "range(1, after + 1):\n        s[:, d:] += squares[:, :-d]\n    for d in range(1, before + 1)")],
    "max_pool_forward": [("a window one pixel short", "s * i:s * i + z, s * j:s * j + z", "s * i:s * i + z - 1, s * j:s * j + z - 1"),
                         ("the stride forgotten", "x[:, :, s * i:s * i + z, s * j:s * j + z]", "x[:, :, i:i + z, j:j + z]"),
                         ("the output size rounded up, as Caffe does", "oh, ow = (h - z) // s + 1, (w - z) // s + 1",
                          "oh, ow = -(-(h - z) // s) + 1, -(-(w - z) // s) + 1")],
    "max_pool_backward": [("overwriting where windows overlap",
                           "np.add.at(dx, (images, channels, s * i + u, s * j + v), g[:, :, i, j])",
                           "dx[images, channels, s * i + u, s * j + v] = g[:, :, i, j]"),
                          ("the row and column of the maximum swapped", "(z, z))", "(z, z))[::-1]"),
                          ("the stride forgotten", "x[:, :, s * i:s * i + z, s * j:s * j + z]", "x[:, :, i:i + z, j:j + z]")],
    "paper_dropout": [("no scaling at test time", "return x * (1 - p)", "return x"),
                      ("inverted scaling in training", "return x * keep", "return x * keep / (1 - p)")],
    "inverted_dropout": [("the gradient not masked", "return x * mask, gy * mask", "return x * mask, gy"),
                         ("divided by p", "mask = keep / (1 - p)", "mask = keep / p")],
    "geometric_mean_prediction": [("the arithmetic mean", "mean = np.exp(log_p.mean(axis=0))", "mean = np.exp(log_p).mean(axis=0)"),
                                  ("not normalised", "return mean / mean.sum()", "return mean")],
    "crop_and_flip": [("flipped upside down", "patch[:, ::-1]", "patch[::-1]"),
                      ("top and left swapped", "image[top:top + crop, left:left + crop]", "image[left:left + crop, top:top + crop]")],
    "fancy_pca": [("a missing transpose", "@ eigvecs.T / scale", "@ eigvecs / scale"),
                  ("square roots of the eigenvalues", "(alphas * eigvals)", "(alphas * np.sqrt(eigvals))")],
    "ten_crop": [("the centre rounded up", "((h - crop) // 2, (w - crop) // 2)", "((h - crop + 1) // 2, (w - crop + 1) // 2)"),
                 ("flipped upside down", "[p[:, ::-1] for p in patches]", "[p[::-1] for p in patches]"),
                 ("height and width mixed up", "[(0, 0), (0, w - crop), (h - crop, 0), (h - crop, w - crop)",
                  "[(0, 0), (0, h - crop), (w - crop, 0), (w - crop, h - crop)")],
    "conv_parameters": [("the groups forgotten", "k * k * c_in // groups + 1", "k * k * c_in + 1"),
                        ("the biases forgotten", "c_out * (k * k * c_in // groups + 1)", "c_out * k * k * c_in // groups"),
                        ("k not squared", "c_out * (k * k * c_in // groups + 1)", "c_out * (k * c_in // groups + 1)")],
    "fc_parameters": [("the biases forgotten", "c_out * (c_in + 1)", "c_out * c_in")],
    "conv_mult_adds": [("padding on one side only", "(side + 2 * pad - k) // stride + 1", "(side + pad - k) // stride + 1"),
                       ("the groups forgotten", "* c_in // groups", "* c_in"),
                       ("the output size rounded up", "(side + 2 * pad - k) // stride + 1", "-(-(side + 2 * pad - k) // stride) + 1")],
    "momentum_step": [("PyTorch's convention", "v = momentum * v - decay * lr * w - lr * grad\n    return w + v, v",
                       "v = momentum * v + grad + decay * w\n    return w - lr * v, v"),
                      ("decay without the learning rate", "- decay * lr * w", "- decay * w")],
    "top_k_error": [("the k lowest scores", "[:, -k:]", "[:, :k]"), ("one too many", "[:, -k:]", "[:, -k - 1:]")],
    "scale_kernels": [("one scale for all kernels", "weights.min(axis=(1, 2, 3), keepdims=True)", "weights.min()"),
                      ("channels left first", ".transpose(0, 2, 3, 1)", ".transpose(0, 3, 2, 1)")],
    "nearest_rows": [("the farthest rows", "np.argsort(squared, axis=1)[:, :k]", "np.argsort(squared, axis=1)[:, ::-1][:, :k]"),
                     ("the largest dot product", "(q**2).sum(axis=1)[:, None] - 2 * q @ g.T + (g**2).sum(axis=1)[None, :]", "-q @ g.T")],
    "grouped_conv": [("channels taken interleaved", "x[:, t * c:(t + 1) * c]", "x[:, t::groups]"),
                     ("one bias block for every group", "b[t * o:(t + 1) * o]", "b[:o]")],
    "lrn_per_tower": [("one window over all channels", "for t in range(towers)]",
                       "for t in range(towers)]\n    return F.local_response_norm(a, size=5, alpha=alpha, beta=0.75, k=2.0).numpy()")],
}

def photo_sizes() -> str:
    """'name W x H, ...' of lessons/photos/*.jpg, read from the files."""
    from PIL import Image

    def size(path):
        with Image.open(path) as image:
            return image.size
    return ", ".join(f"{p.stem} {w} x {h}" for p in sorted((LESSONS / "photos").glob("*.jpg")) for w, h in [size(p)])


# Qualitative claims of each lesson's text, checked against the numbers its committed notebook recorded.
CLAIMS = {
    "02": [("the naive backward gets clipping wrong", lambda v: v["clip_naive"] != v["clip_right"])],
    "03": [("float32's band shrinks in a long sum", lambda v: v["sum_float32_decades"] < v["float32_decades"]),
           ("float32's best in a sum is near the tolerance", lambda v: 1e-5 < v["sum_float32_best"] < 1e-4),
           ("float64 keeps many decades", lambda v: v["sum_float64_decades"] > 5)],
    "04": [("the loop is slowest", lambda v: v["loop_rate"] < v["pixel_rate"] < v["product_rate"]),
           ("one product is hundreds of times faster", lambda v: v["speedup_small"] > 100),
           ("tinyalex is several times faster on the larger layer", lambda v: v["tinyalex_gain"] > 2)],
    "05": [("ReLU faster on every seed", lambda v: max(v["relu_epochs"]) < min(v["tanh_epochs"])),
           ("the gap far larger than the spread", lambda v: v["speedup_low"] > 1.5 and v["speedup_runs"] == v["seeds"] >= 3),
           ("about the same speed when scaled", lambda v: 0.8 < v["fair_mean"] < 1.25),
           ("most first-layer units saturated", lambda v: v["saturated"] > 0.5)],
    "06": [("the strong channel and its neighbours share a divisor",
            lambda v: all(math.isclose(f, v["strong_factor"], rel_tol=1e-9) for f in v["neighbour_factors"])),
           ("quiet channels are scaled less", lambda v: v["quiet_factor"] > v["strong_factor"]),
           ("the ceiling of 52.2", lambda v: v["largest_out_5"] < 52.3 < v["largest_in_5"])],
    "07": [("a pixel collects at most four units", lambda v: 1 <= v["most"] <= 4), ("16 outputs", lambda v: v["outputs"] == 16)],
    "08": [("the geometric mean is the scaled network", lambda v: v["geometric_vs_scaled"] < 1e-12),
           ("the arithmetic mean is not close", lambda v: abs(v["arithmetic_top"] - v["scaled_top"]) > 0.05),
           ("dropout lowers the test error on draws 2 and 3, and does worse on draw 1",
            lambda v: all(a < b for a, b in zip(v["test_with"][1:], v["test_without"][1:]))
            and v["test_with"][0] > v["test_without"][0])],
    "09": [("brightness dominates the photos", lambda v: v["share_p1"] > 0.5 and v["p1_angle"] < 20),
           ("a wide photo's square keeps two thirds of its width",
            lambda v: abs(v["kept_low"] - 2 / 3) < 0.01 and abs(v["kept_high"] - 2 / 3) < 0.01),
           ("a wide photo loses a sixth at each side", lambda v: abs(v["cut_low"] - 1 / 6) < 0.01 and abs(v["cut_high"] - 1 / 6) < 0.01),
           ("three wide photos and one square", lambda v: v["wide"] == 3 and len(v["square"]) == 1),
           ("the photos' sizes are the files'", lambda v: v["photo_sizes"] == photo_sizes())],
    "11": [("the signal does not survive to fc7", lambda v: v["paper_fc7"] < 0.1 < v["paper_conv1"]),
           ("the error falls", lambda v: v["last_error"] < v["first_error"]),
           ("the lowest error is at or before the last epoch",
            lambda v: v["best_error"] == min(v["best_error"], v["last_error"]) and 1 <= v["best_epoch"] <= v["epochs"]),
           ("the scaled pixels are of about unit size", lambda v: 0.5 < v["scaled_std"] < 2 < v["pixel_std"])],
    "12": [("fc7 beats pixels, pixels beat chance", lambda v: v["fc7_error"] < v["pixel_error"] < v["chance"]),
           ("fc7's neighbours beat the classifier", lambda v: v["fc7_error"] < v["error"]),
           # a six-epoch run: its favourite's share moves with rounding (0.34 with one op thread, 0.39 with two, 0.67
           # in the notebook built with an earlier version of the ops), the lopsidedness does not
           ("a lopsided classifier that predicts only some classes",
            lambda v: v["favourite_share"] > 3 / v["class_count"] and v["predicted_classes"] < v["class_count"])],
}


def code_outputs(nb):
    return [output for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs]


def text_of(outputs) -> str:
    """Everything a list of outputs printed or displayed as text."""
    parts = []
    for output in outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif "text/plain" in output.get("data", {}):
            parts.append(output.data["text/plain"])
    return "".join(parts)


def check_verdicts(nb) -> list[tuple[str, str]]:
    """(verdict, function) of every line the check cells printed; one per check() call, or an AssertionError."""
    found = []
    for cell in nb.cells:
        if cell.cell_type == "code" and "check" in cell.metadata.get("tags", []):
            said = lesson_cells.verdicts(text_of(cell.outputs))
            calls = len(lesson_cells.sources.CHECK_CALL.findall(cell.source))
            assert len(said) == calls, f"a check cell made {calls} check() calls and printed {said}: {cell.source[:80]!r}"
            found += said
    return found


def stderr_of(nb) -> list[str]:
    return [o.text for o in code_outputs(nb) if o.output_type == "stream" and o.name == "stderr"]


def recorded_values(nb) -> dict:
    payload = build.recorded(nb)
    assert payload is not None, "the notebook recorded no numbers (its last cell calls facts.show())"
    return payload


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tinyalex-data")


@pytest.fixture(scope="module")
def executed(data_dir, tmp_path_factory):
    """Every notebook run of this module, started at once and executed two at a time (a kernel uses one core).

    {(stem, variant): future of the executed notebook} for each lesson's student and solution versions, and
    {(prefix, kind): future of (notebook, its cache folder)} for each run with the DATA switch (see its test).
    Runs that prepare the same data cache (lesson_cache) run one after the other, since two `prepare`s into one
    folder would overwrite each other's files; the embedded data set is generated here first, once. A run's
    error is raised by its future, in that run's test.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TINYALEX_DATA", str(data_dir))
        lesson_data.source_folder(None)
    chains: dict[str, list] = {}
    for source in SOURCES:
        for variant in ("student", "solution"):
            chain = chains.setdefault(lesson_cache(source) or f"{source.stem} {variant}", [])
            chain.append(((source.stem, variant), functools.partial(execute_version, source, variant, data_dir)))
    for prefix in LESSONS_WITH_DATA:
        for kind in SWITCH_KINDS:
            root = tmp_path_factory.mktemp(f"switch-{prefix}-{kind}")
            chains[f"{prefix} {kind}"] = [((prefix, kind), functools.partial(execute_switched, prefix, kind, root))]
    runs = {key: Future() for chain in chains.values() for key, _ in chain}
    pool = ThreadPoolExecutor(max_workers=2)
    for chain in chains.values():
        pool.submit(run_chain, chain, runs)
    yield runs
    for run in runs.values():  # the runs no test asked for (pytest -k, -x) are not started
        run.cancel()
    pool.shutdown()


def run_chain(chain: list, runs: dict) -> None:
    """Run the jobs of `chain` one after the other, each into its future in `runs`, unless it was cancelled."""
    for key, job in chain:
        if not runs[key].set_running_or_notify_cancel():
            continue
        try:
            runs[key].set_result(job())
        except Exception as exc:  # raised in that run's test
            runs[key].set_exception(exc)


def execute_version(source: Path, variant: str, data_dir: Path):
    """The shipped student notebook, or the solution version built from `source`, executed."""
    path = build.notebook_path(source)
    nb = build.build(source, variant) if variant == "solution" else nbformat.read(path, as_version=4)
    return build.execute(nb, data_dir, timeout=CELL_SECONDS)


def lesson_cache(source: Path) -> str | None:
    """The cache folder the lesson prepares its DATA into (`open_splits(DATA, size, cache)`), if it does."""
    found = re.search(r"open_splits\(DATA, [^\n]*?\"([^\"]+)\"", source.read_text(encoding="utf-8"))
    return found.group(1) if found else None


def test_the_lessons_that_share_a_data_cache_are_found():
    caches = {s.name[:2]: lesson_cache(s) for s in SOURCES}
    assert sorted(k for k, v in caches.items() if v) == list(LESSONS_WITH_DATA)
    assert caches["11"] == caches["12"] and len({caches["05"], caches["09"], caches["11"]}) == 3


def test_there_are_thirteen_lessons_one_per_source():
    shipped = sorted(p.name for p in LESSONS.glob("[0-9][0-9]_*.ipynb") if not p.name.endswith(".solution.ipynb"))
    assert shipped == [p.name for p in NOTEBOOKS]
    assert [p.name[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(1, 14)]


def test_every_lesson_has_graded_exercises_and_every_exercise_a_wrong_answer():
    functions = []
    for source in SOURCES:
        pairs = lesson_cells.exercises(source)  # raises if an exercise has no check cell after it
        names = [name for exercise, _ in pairs for name in lesson_cells.graded(exercise)]
        assert len(pairs) >= 2, f"{source.name}: {len(pairs)} graded exercises, expected at least two"
        for exercise, check_cell in pairs:
            stub = lesson_cells.sources.student_code(exercise.text)
            assert "### BEGIN SOLUTION" not in stub and "raise NotImplementedError()" in stub
            for name in lesson_cells.graded(exercise):
                assert f"check({name}," in check_cell.text, f"{source.name}: {name} is not checked"
        functions += names
    numbered = [re.findall(r"\*\*Exercise (\d+)\.(\d+)\.\*\*", source.read_text(encoding="utf-8")) for source in SOURCES]
    for lesson, found in enumerate(numbered, 1):
        assert len(found) >= 2 and found == [(str(lesson), str(i)) for i in range(1, len(found) + 1)], found
    total = sum(map(len, numbered))
    assert total >= 26, f"{total} graded exercises in all, expected at least 26"
    assert f"graded exercises ({total} in all)" in (LESSONS / "README.md").read_text(encoding="utf-8")
    assert len(set(functions)) == len(functions), "two exercises share a function name"
    # a kernel's check needs a GPU: lessons/gpu_outputs.py runs it on the solution there
    assert sorted(f for f in functions if not f.endswith("_gpu")) == sorted(WRONG), \
        "every graded function needs a wrong answer in WRONG, and only those"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_checks_pass_on_the_solution_and_say_not_done_yet_on_the_stubs(source):
    calls = sum(lesson_cells.checked(check_cell) for _, check_cell in lesson_cells.exercises(source))
    solved = lesson_cells.verdicts(lesson_cells.run(source, "solution"))
    assert len(solved) == calls
    assert all(v == "PASS" or (v == "SKIP" and name.endswith("_gpu")) for v, name in solved), solved
    stubs = lesson_cells.verdicts(lesson_cells.run(source, "student"))
    assert len(stubs) == calls
    assert all(v == "not done yet" or (v == "SKIP" and name.endswith("_gpu")) for v, name in stubs), stubs


def wrong_answers():
    where = {name: source for source in SOURCES for exercise, _ in lesson_cells.exercises(source)
             for name in lesson_cells.functions(exercise)}
    return [pytest.param(where[name], name, old, new, id=f"{name}: {what}")
            for name, mistakes in WRONG.items() for what, old, new in mistakes]


@pytest.mark.parametrize("source, name, old, new", wrong_answers())
def test_each_check_fails_on_a_plausible_wrong_answer(source, name, old, new):
    """In every one of WRONG_SEEDS' checks: a case generator that may draw three cases where the wrong answer
    equals the right one (stride 1, square images, top == left) fails here, not in a student's hands."""
    passed = []
    for seed in WRONG_SEEDS:
        printed = lesson_cells.run(source, "solution", (name, old, new), seed=seed)
        said = [v for v, f in lesson_cells.verdicts(printed) if f == name]
        assert said, f"{name}: its check printed nothing with seed {seed}"
        if "FAIL" not in said:
            passed.append(seed)
    assert not passed, f"{name} with {new!r} in place of {old!r} is not caught by the case of seed(s) {passed}"


def lowest_highest_and_one_more(case) -> tuple[float, float, float]:
    """The top-k error of a scores case taken from the k lowest scores, the k highest, and the k + 1 highest."""
    ranked, labels, k = np.argsort(case["scores"], axis=1), case["labels"][:, None], case["k"]
    return tuple(float(np.mean(~(ranked[:, part] == labels).any(axis=1))) for part in
                 (slice(None, k), slice(-k, None), slice(-k - 1, None)))


# What each case generator must draw every time, so that a wrong answer of WRONG cannot equal the right one:
# (lesson, generator, what, holds(case)).
CASE_RULES = [
    ("04", "conv_case", "windows overlap along an axis (adding and overwriting in col2im differ)",
     lambda c: c["stride"] < max(c["w"].shape[2:])),
    ("04", "conv_case", "non-square kernels (u and v cannot be swapped unnoticed)", lambda c: c["w"].shape[2] != c["w"].shape[3]),
    ("04", "conv_case", "at least two outputs along each axis (a stride forgotten shows)", lambda c: min(c["g"].shape[2:]) >= 2),
    ("05", "unit_case", "exact zeros with a non-zero upstream gradient (ReLU's derivative at 0)",
     lambda c: (c["x"] == 0).any() and (c["gy"][c["x"] == 0] != 0).all()),
    ("09", "crop_case", "top and left differ (swapping them shows)", lambda c: c["top"] != c["left"]),
    ("09", "ten_crop_case", "odd margins (the centre rounded up shows)", lambda c: (c["image"].shape[0] - c["crop"]) % 2 == 1),
    ("09", "ten_crop_case", "images that are not square (height and width mixed up show)",
     lambda c: c["image"].shape[0] != c["image"].shape[1]),
    ("01", "nhwc_case", "images that are not square (a reshape or H and W swapped show)",
     lambda c: c["images"].shape[1] != c["images"].shape[2]),
    ("06", "window_case", "different reaches before and after (swapping them shows)", lambda c: c["before"] != c["after"]),
    ("07", "pool_case", "overlapping strided windows (a forgotten stride, overwriting overlaps show)",
     lambda c: 2 <= c["s"] < c["z"]),
    ("07", "pool_case", "a height the stride does not divide (the output size rounded up shows)",
     lambda c: (c["x"].shape[2] - c["z"]) % c["s"] != 0),
    ("07", "pool_case", "a map that is not square", lambda c: c["x"].shape[2] != c["x"].shape[3]),
    ("10", "conv_layer_case", "kernels wider than one pixel (k and k squared differ)", lambda c: c["k"] >= 2),
    ("10", "mult_adds_case", "a stride that does not divide side + 2 pad - k (the output size rounded up shows)",
     lambda c: (c["side"] + 2 * c["pad"] - c["k"]) % c["stride"] != 0),
    ("11", "scores_case", "the k lowest, the k highest and the k + 1 highest give three different errors",
     lambda c: len(set(lowest_highest_and_one_more(c))) == 3),
    ("13", "grouped_case", "at least two input channels per group (interleaved channels show)",
     lambda c: c["x"].shape[1] // c["groups"] >= 2),
]


@pytest.mark.parametrize("prefix, generator, what, holds", [pytest.param(*rule, id=f"{rule[1]}: {rule[2].split(' (')[0]}") for rule in CASE_RULES])
def test_case_generators_never_draw_a_case_where_a_wrong_answer_is_right(prefix, generator, what, holds):
    """Over many more draws than test_each_check_fails_on_a_plausible_wrong_answer can afford: a draw one case
    in 200 makes degenerate is caught here."""
    cases = lesson_cells.names(next(s for s in SOURCES if s.name.startswith(prefix)))[generator]
    rng = np.random.default_rng(0)
    bad = [i for i in range(2000) if not holds(cases(rng))]
    assert not bad, f"lesson {prefix}: {generator} drew {len(bad)} of 2000 cases without {what}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_notebook_runs_never_passes_and_reproduces_its_numbers(path, executed):
    committed = nbformat.read(path, as_version=4)
    nb = executed[path.stem, "student"].result()  # raises CellExecutionError at the first error
    assert not stderr_of(nb), f"{path.name} wrote to stderr: {stderr_of(nb)}"
    verdicts = check_verdicts(nb)
    assert verdicts and all(v == "not done yet" or (v == "SKIP" and f.endswith("_gpu")) for v, f in verdicts), verdicts
    fresh, saved = recorded_values(nb), recorded_values(committed)
    assert sorted(fresh["values"]) == sorted(saved["values"])
    for name, value in saved["values"].items():
        if name not in saved["measured"]:
            assert same_number(fresh["values"][name], value), f"{path.name}: {name} is {fresh['values'][name]}, the text says {value}"


def same_number(a, b) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_number(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)
    return a == b


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_solution_notebook_passes_every_check(source, executed):
    nb = executed[source.stem, "solution"].result()
    assert not stderr_of(nb), f"{source.stem} (solution) wrote to stderr: {stderr_of(nb)}"
    verdicts = check_verdicts(nb)
    assert verdicts and all(v == "PASS" or (v == "SKIP" and f.endswith("_gpu")) for v, f in verdicts), verdicts


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_text_claims_hold_for_the_numbers_the_notebook_recorded(path):
    values = recorded_values(nbformat.read(path, as_version=4))["values"]
    for claim, holds in CLAIMS.get(path.name[:2], []):
        assert holds(values), f"{path.name}: the text says {claim!r}, but the notebook recorded {values}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_expected_outputs_appear_in_the_output_above_them(path):
    nb = nbformat.read(path, as_version=4)
    last_output = ""
    for cell in nb.cells:
        if cell.cell_type == "code":
            last_output = " ".join(text_of(cell.outputs).split())
            continue
        for paragraph in cell.source.split("\n\n"):
            if "Expected" not in paragraph:
                continue
            for line in expected_lines(paragraph[paragraph.index("Expected"):], path.name):
                assert " ".join(line.split()) in last_output, f"{path.name}: expected {line!r}, the output is {last_output[:300]!r}"


def expected_lines(text: str, name: str) -> list[str]:
    """What an 'Expected ...' statement shows: the fenced block right after it, else the `code` and **bold**
    spans of its sentence."""
    block = re.match(r"Expected[^`\n]*:\s*```\w*\n(.*?)```", text, re.DOTALL)
    if block:
        return block.group(1).strip().splitlines()
    sentence = re.split(r"\.\s+(?=[A-Z(])", text, maxsplit=1)[0]
    spans = ["".join(span) for span in re.findall(r"`([^`]+)`|\*\*([^*]+)\*\*", sentence)]
    assert spans, f"{name}: an 'Expected' sentence shows nothing to compare: {sentence[:80]!r}"
    return spans


def test_readme_says_how_the_lessons_are_run_and_timed():
    readme = " ".join((LESSONS / "README.md").read_text(encoding="utf-8").split())
    assert "TINYALEX_THREADS=1" in readme and "python lessons/build.py" in readme
    assert all(name in build.THREADS for name in ("OPENBLAS_NUM_THREADS", "TINYALEX_THREADS"))


def test_readme_lists_every_lesson_in_order_with_a_line_on_what_it_teaches():
    lines = (LESSONS / "README.md").read_text(encoding="utf-8").splitlines()
    links = [(m.group(1), line) for line in lines if (m := re.search(r"\]\((\d\d_[\w]+\.ipynb)\)", line))]
    assert [name for name, _ in links] == [p.name for p in NOTEBOOKS]
    for name, line in links:
        description = line.split(f"({name})", 1)[1].strip(" :-—")
        assert len(description) > 20, f"README.md: no description of what {name} teaches"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_matches_its_source_with_the_text_filled_from_its_output(source):
    assert build.out_of_step(source) == []


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_no_code_cell_holds_a_heading(source):
    """A '# %% [markdown]' marker left out after a check turned the next section's heading and text into comments
    at the end of the check cell (lessons 3, 8 and 13)."""
    buried = [cell.text.splitlines()[0] for cell in lesson_cells.sources.read(source)
              if cell.kind != "markdown" and re.search(r"^# #+ ", cell.text, re.MULTILINE)]
    assert not buried, f"{source.name}: code cells with a Markdown heading inside: {buried}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_the_text_names_exercises_by_their_numbers(source):
    """Graded exercises are numbered lesson.n (Exercise 7.2); "exercise 2" meant a question (lessons 7 and 12)."""
    text = "\n".join(cell.text for cell in lesson_cells.sources.read(source) if cell.kind == "markdown")
    assert not re.findall(r"\b[Ee]xercises? \d+\b(?!\.\d)", text)


def test_fields_are_filled_and_unknown_ones_refused():
    assert build.fill("{{a}} and {{b:.1f}} and {{c[1]:,}}", {"a": "x", "b": 2.25, "c": [0, 12345]}) == "x and 2.2 and 12,345"
    assert build.fill("$\\frac{1}{2}$ {x}", {}) == "$\\frac{1}{2}$ {x}"
    with pytest.raises(KeyError, match="never recorded"):
        build.fill("{{missing}}", {"a": 1})


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_says_what_it_teaches_and_hides_the_answers_to_its_questions(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and "You will learn" in nb.cells[0].source
    assert any("## Questions" in c.source for c in nb.cells if c.cell_type == "markdown")
    solutions = [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("jupyter", {}).get("source_hidden")]
    assert solutions, f"{path.name} has no hidden answer cell"
    assert not any("### BEGIN SOLUTION" in c.source for c in nb.cells), f"{path.name} ships a graded solution"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_outputs_are_complete_small_anonymous_and_not_done_yet(path):
    assert path.stat().st_size < MAX_BYTES, f"{path.name} is {path.stat().st_size:,} bytes"
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), f"{path.name} was saved without running every cell"
    outputs = code_outputs(nb)
    assert not [o for o in outputs if o.output_type == "error"]
    assert not stderr_of(nb)
    verdicts = check_verdicts(nb)
    assert verdicts and all(v == "not done yet" or (v == "SKIP" and f.endswith("_gpu")) for v, f in verdicts), verdicts
    text = json.dumps([o for o in outputs if o.output_type == "stream" or "text/plain" in o.get("data", {})])
    found = ABSOLUTE_PATH.search(text)
    assert found is None, f"{path.name}: an absolute path in the outputs: ...{text[found.start() - 40:found.end() + 40]}..."
    host = socket.gethostname()
    if len(host) > 3:
        assert host not in text, f"{path.name}: the machine name {host!r} is in the outputs"


def test_absolute_path_check_catches_what_it_should():
    for text in ['"/work/main/x"', "in /tmp/tmpab12", "'/home/ann/data'", "C:\\\\Users\\\\ann", "/Users/ann"]:
        assert ABSOLUTE_PATH.search(text), text
    for text in ["lessons/05.ipynb", "a/tmp/b", "1/2 of the work", "runs/example"]:
        assert ABSOLUTE_PATH.search(text) is None, text


def imagenet_folder(root: Path) -> Path:
    """A tiny ImageNet-layout folder: 3 classes (WordNet ids, no names file), 12 training and 4 validation JPEGs
    each, of different sizes, each class a different colour and shape."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(0)
    for k, wnid in enumerate(["n01440764", "n02102040", "n03000684"]):
        for split, count in (("train", 12), ("val", 4)):
            folder = root / split / wnid
            folder.mkdir(parents=True)
            for i in range(count):
                w, h = (int(n) for n in rng.integers(70, 110, size=2))
                image = Image.new("RGB", (w, h), tuple(int(c) for c in rng.integers(0, 256, size=3)))
                box = [int(w * 0.2), int(h * 0.2), int(w * 0.8), int(h * 0.8)]
                colour = tuple(int(c) for c in (255 * np.eye(3)[k]))
                [ImageDraw.Draw(image).ellipse, ImageDraw.Draw(image).rectangle, ImageDraw.Draw(image).line][k](box, fill=colour)
                image.save(folder / f"{wnid}_{i}.JPEG", quality=90)
    return root


def prepared_folder(root: Path, size: int = 73) -> Path:
    """The tiny ImageNet-layout folder as `tinyalex prepare SRC --out ROOT --size SIZE` writes it (meta.json and all)."""
    from tinyalex.data.prepare import prepare

    prepare(imagenet_folder(root.with_name(root.name + "-source")), root, size=size, progress=False)
    return root


@pytest.mark.parametrize("kind", SWITCH_KINDS)
@pytest.mark.parametrize("prefix", LESSONS_WITH_DATA)
def test_the_data_switch_trains_on_an_imagenet_layout_folder_or_a_prepared_set(prefix, kind, executed):
    """DATA set to a raw folder (prepared into the cache) or to a set `tinyalex prepare` wrote at 73 pixels:
    lessons 9, 11 and 12 open that one where it is, and lesson 5 rescales it to its 16 pixels in memory."""
    nb, cache = executed[prefix, kind].result()
    assert not stderr_of(nb), f"lesson {prefix} with DATA wrote to stderr: {stderr_of(nb)}"
    if prefix in ("09", "12"):  # no names file: the names from the ILSVRC-2012 table tinyalex ships
        assert "tench" in text_of(code_outputs(nb)), "the class names are not shown (n01440764 is the tench)"
    if kind == "prepared":
        assert not list(cache.glob("*/meta.json")), f"a prepared set was prepared again: {list(cache.glob('*/meta.json'))}"


def execute_switched(prefix: str, kind: str, root: Path):
    """Lesson `prefix` (student version) with its first cell's `DATA = None` set to a folder of `kind` made in
    `root`, executed with a cache folder that does not exist yet: (the notebook, that cache folder)."""
    folder = imagenet_folder(root / "my-subset") if kind == "imagenet-layout" else prepared_folder(root / "my-set")
    source = next(s for s in SOURCES if s.name.startswith(prefix))
    nb = build.build(source, "student")
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert re.search(r"^DATA = None\b", first.source, re.MULTILINE), f"{source.stem}: no `DATA = None` switch in its first cell"
    first.source = re.sub(r"^DATA = None\b", f"DATA = {str(folder)!r}", first.source, flags=re.MULTILINE)
    cache = root / "cache"
    return build.execute(nb, cache, timeout=CELL_SECONDS), cache


def test_lesson_data_opens_a_prepared_set_where_it_is_and_rescales_one_of_another_size(tmp_path):
    from tinyalex.data.stats import image_statistics, principal_components

    folder = prepared_folder(tmp_path / "set-96", size=96)
    same = lesson_data.open_splits(folder, 96, "unused-{name}")
    assert [d.root for d in same] == [folder, folder] and same[0].images.shape[1:] == (96, 96, 3)
    train, val = lesson_data.open_splits(folder, 40, "unused-{name}")
    assert train.images.shape == (36, 40, 40, 3) and val.images.shape == (12, 40, 40, 3) and train.images.dtype == np.uint8
    assert list(train.labels) == list(same[0].labels) and train.class_names[0].startswith("tench")
    mean, cov = image_statistics(train.images)
    assert np.allclose(train.mean, mean) and np.allclose(train.eigvals, principal_components(cov)[0])
    assert val.mean is train.mean  # the training set's statistics, as prepare gives the validation split
    images, labels = train.load_batch(np.array([5, 0]))
    assert np.array_equal(images, train.images[[5, 0]]) and list(labels) == [train.labels[5], train.labels[0]]
    originals = lesson_data.training_files(folder)
    assert len(originals) == 36 and all(path.is_file() for path, _ in originals)
    assert {wnid for _, wnid in originals} == {"n01440764", "n02102040", "n03000684"}


def test_gpu_outputs_are_read_from_a_file_and_absent_without_one(tmp_path, monkeypatch):
    monkeypatch.setenv(gpu_outputs.ENVIRONMENT, str(tmp_path / "none.json"))
    assert gpu_outputs.load() is None
    (tmp_path / "gpu.json").write_text(json.dumps({"device": "x"}))
    assert gpu_outputs.load(tmp_path / "gpu.json") == {"device": "x"}


def test_gpu_outputs_script_runs_and_the_lessons_show_what_it_saved(tmp_path, monkeypatch, data_dir):
    out = tmp_path / "saved" / "gpu.json"
    done = subprocess.run([sys.executable, str(LESSONS / "gpu_outputs.py"), str(out), "--device", "cpu"],
                          capture_output=True, text=True, timeout=CELL_SECONDS, check=False)
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}" in done.stdout
    saved = json.loads(out.read_text())
    assert set(saved) == {"device", "library", "date", "lesson1", "lesson4", "lesson6"}
    assert len(saved["lesson1"]["sizes"]) == len(saved["lesson1"]["gflops"]) and min(saved["lesson1"]["gflops"]) > 0
    assert all(seconds > 0 for seconds in saved["lesson4"]["seconds"].values())
    checks = lesson_cells.verdicts(saved["lesson6"]["check"])
    assert checks == [("PASS", "window_sum_cpu"), ("SKIP", "window_sum_gpu")], checks  # no GPU here
    monkeypatch.setenv(gpu_outputs.ENVIRONMENT, str(out))
    for prefix in LESSONS_WITH_GPU:
        nb = nbformat.read(next(p for p in NOTEBOOKS if p.name.startswith(prefix)), as_version=4)
        build.execute(nb, data_dir, timeout=CELL_SECONDS)
        printed = text_of(code_outputs(nb))
        assert saved["device"] in printed and "no GPU measurement saved yet" not in printed, prefix


def test_without_a_saved_file_the_lessons_say_so():
    for prefix in LESSONS_WITH_GPU:
        nb = nbformat.read(next(p for p in NOTEBOOKS if p.name.startswith(prefix)), as_version=4)
        assert "no GPU measurement saved yet" in text_of(code_outputs(nb)) or (LESSONS / "saved" / "gpu.json").is_file()
