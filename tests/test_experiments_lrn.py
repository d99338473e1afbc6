"""The LRN study: the window sum against nested loops, the range measurement against a direct computation,
the measured gain of the control, and the model options behind the LRN variants."""
import numpy as np
import pytest

from tinyalex.engine.tensor import no_grad
from tinyalex.experiments.lrn import measure_gain, measure_range, record, window_sum_of_squares
from tinyalex.layers import LocalResponseNorm, Scale
from tinyalex.models import AlexNet, alexnet_small

CROP = 32


def tiny(**options):
    return alexnet_small(10, input_size=CROP, width=0.0625, seed=3, **options)


def pixels(n=4, seed=0):
    """Mean-subtracted pixels on the 0..255 scale, as the DataLoader gives them."""
    return np.random.default_rng(seed).normal(0, 60, (n, 3, CROP, CROP)).astype(np.float32)


def window_sum_loops(a, size, groups):
    """The sum over LRN's window written out: map i of a tower sums maps i - size//2 .. i + (size-1)//2 of it."""
    n, c, h, w = a.shape
    per = c // groups
    out = np.zeros_like(a, dtype=np.float64)
    for image in range(n):
        for i in range(c):
            tower = i // per
            for j in range(i - size // 2, i + (size - 1) // 2 + 1):
                if tower * per <= j < (tower + 1) * per:
                    out[image, i] += a[image, j].astype(np.float64) ** 2
    return out


@pytest.mark.parametrize("size,groups", [(5, 1), (5, 2), (4, 2), (3, 3)])
def test_the_window_sum_matches_nested_loops(size, groups):
    a = np.random.default_rng(1).normal(size=(2, 12, 3, 4))
    np.testing.assert_allclose(window_sum_of_squares(a, size, groups), window_sum_loops(a, size, groups), rtol=1e-12)
    with pytest.raises(ValueError, match="12 channels do not split into 5 towers"):
        window_sum_of_squares(a, size, 5)


def test_record_gives_each_lrn_layer_its_input_and_output_and_restores_the_model():
    model = tiny()
    model.train()
    seen = record(model, pixels())
    assert list(seen) == ["norm1", "norm2"] and isinstance(model.norm1, LocalResponseNorm) and model.training
    for name, (a, b) in seen.items():
        layer = getattr(model, name)
        s = layer.k + layer.alpha * window_sum_loops(a, layer.size, layer.groups)
        np.testing.assert_allclose(b, a / s ** layer.beta, rtol=1e-5, atol=1e-7)  # b = a / (k + alpha sum a^2)^beta
    with pytest.raises(ValueError, match="no LRN layers"):
        record(tiny(lrn=False), pixels())


def test_the_range_measurement_matches_a_direct_computation():
    model = tiny(input_scale=1.0)  # 0..255 pixels: alpha * sum(a^2) is not negligible here
    x = pixels()
    ranges = measure_range(model, x)
    for name, (a, b) in record(model, x).items():
        layer = getattr(model, name)
        s = layer.alpha * window_sum_loops(a, layer.size, layer.groups)
        gain = b[a != 0] / a[a != 0]
        expected = {"alpha": 1e-4, "k": 2.0, "median": np.median(s), "p95": np.percentile(s, 95), "max": s.max(),
                    "gain_mean": gain.mean(), "gain_sd": gain.std()}
        assert ranges[name] == pytest.approx(expected, rel=1e-9)
    assert ranges["norm1"]["p95"] > 0.1  # in LRN's working range against k = 2


def test_at_unit_scale_lrn_is_a_constant_gain_of_two_to_the_minus_three_quarters():
    ranges = measure_range(tiny(), pixels())
    for r in ranges.values():
        assert r["p95"] < 0.01 and r["gain_mean"] == pytest.approx(2 ** -0.75, rel=1e-3) and r["gain_sd"] < 1e-3


def test_the_gain_control_uses_the_measured_mean_gain_and_matches_lrn_where_lrn_is_a_gain():
    model, x = tiny(), pixels()
    gains = measure_gain(model, x)
    expected = [float((b[a != 0] / a[a != 0]).mean()) for a, b in record(model, x).values()]
    assert gains == pytest.approx(expected, rel=1e-12)
    control = tiny(lrn_gain=gains)
    assert [type(control.norm1), type(control.norm2)] == [Scale, Scale]
    assert (control.norm1.factor, control.norm2.factor) == tuple(gains)
    with no_grad():
        np.testing.assert_allclose(control.eval()(x).data, model.eval()(x).data, rtol=2e-3, atol=5e-4)
    with pytest.raises(ValueError, match="is a fixed gain"):
        measure_range(control, x)


def test_the_lrn_options_are_in_the_config_only_when_set_and_rebuild_the_same_net():
    assert not {"lrn_alpha", "lrn_k", "lrn_gain"} & set(tiny().config)  # old checkpoints still match
    caffe = tiny(lrn_alpha=2e-5, lrn_k=1.0)
    assert caffe.config["lrn_alpha"] == 2e-5 and caffe.config["lrn_k"] == 1.0
    assert (caffe.norm1.alpha, caffe.norm1.k, caffe.norm1.groups) == (2e-5, 1.0, 2)
    control = tiny(lrn_gain=(0.5, 0.6))
    assert control.config["lrn_gain"] == [0.5, 0.6]
    copy = AlexNet(**control.config)
    assert isinstance(copy.norm2, Scale) and copy.norm2.factor == 0.6
    for bad in ({"lrn_gain": [0.5]}, {"lrn_gain": [0.5, -1.0]}, {"lrn_gain": [0.5, 0.5], "lrn": False}):
        with pytest.raises(ValueError, match="lrn_gain must be two positive gains"):
            tiny(**bad)


def test_lrn_at_pixel_scale_sees_what_0_to_255_pixels_give_and_keeps_the_logits_at_unit_scale():
    unit = tiny(lrn_alpha=1e-4 * 64 ** 2)  # He's input scale 1/64, LRN's alpha / (1/64)^2: lrn_pixels
    raw = tiny(input_scale=1.0)  # the same weights fed 0..255 pixels
    x = pixels()
    for name, r in measure_range(unit, x).items():
        expected = measure_range(raw, x)[name]
        assert [r[k] for k in ("median", "p95", "gain_mean")] == pytest.approx(
            [expected[k] for k in ("median", "p95", "gain_mean")], rel=1e-4)
    with no_grad():
        np.testing.assert_allclose(unit.eval()(x).data * 64, raw.eval()(x).data, rtol=1e-4, atol=1e-3)
