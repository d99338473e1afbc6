"""dropout: inverted dropout whose test-time output is the expected training-time output, with
counter-based masks that one seed fixes on every device and for every split of the batch."""
import numpy as np
import pytest

from tinyalex import Tensor, gradcheck
from tinyalex import functional as F
from tinyalex import nn
from tinyalex.backend import to_cpu, to_gpu
from tinyalex.ops.dropout import keep_mask, mix32

MASK32 = 0xFFFFFFFF


def lowbias32(x: int) -> int:
    """Chris Wellons' lowbias32 on Python ints, written independently of the library's array version."""
    x = (x ^ (x >> 16)) & MASK32
    x = (x * 0x21F0AAAD) & MASK32
    x = (x ^ (x >> 15)) & MASK32
    x = (x * 0x735A2D97) & MASK32
    return (x ^ (x >> 15)) & MASK32


def bits(i: int, seed: int, step: int) -> int:
    """The brief's definition: key = mix32(mix32(seed) ^ step); bits(i) = mix32(mix32(i ^ key) + key)."""
    key = lowbias32(lowbias32(seed) ^ step)
    return lowbias32((lowbias32(i ^ key) + key) & MASK32)


def keep_reference(shape, p, seed, step, first_row=0):
    features = int(np.prod(shape[1:]))
    threshold = int(p * 2**32)
    n = int(np.prod(shape))
    flat = [bits((first_row * features + k) & MASK32, seed, step) >= threshold for k in range(n)]
    return np.array(flat).reshape(shape)


def test_lowbias32_of_one_worked_by_hand():
    # x ^= x >> 16: 1; x *= 0x21F0AAAD: 0x21F0AAAD; x ^= x >> 15: 0x21F0AAAD ^ 0x43E1 = 0x21F0E94C;
    # x *= 0x735A2D97 (mod 2**32): 0x86D3F7D4; x ^= x >> 15: 0x86D3F7D4 ^ 0x10DA7 = 0x86D2FA73
    assert lowbias32(1) == 0x86D2FA73
    x = np.array([0, 1, 2, 0xDEADBEEF], dtype=np.uint32)
    assert [hex(v) for v in mix32(x)] == ["0x0", "0x86d2fa73", "0xda7f4e7", "0x2a2acaf2"]


def test_pinned_mask_bits():
    """bits(i) for a few (seed, step, i), pinned so that a CUDA kernel can be checked against the same numbers."""
    assert [bits(i, 0, 0) for i in range(4)] == [0x0, 0xCAFEBA47, 0xCAB8C8EB, 0x202BB070]
    assert [bits(i, 2024, 7) for i in (0, 1, 1000, 2**32 - 1)] == [0xBB426DFA, 0x2CC834DA, 0x273F489B, 0x40A3D5CA]
    # keep_mask at the threshold just above and at a pinned value flips exactly that element
    for i, value in [(1, 0xCAFEBA47), (2, 0xCAB8C8EB), (3, 0x202BB070)]:
        assert keep_mask((4,), value / 2**32, 0, 0)[i]  # bits >= floor(p 2^32) = value: kept
        assert not keep_mask((4,), (value + 1) / 2**32, 0, 0)[i]  # one above: dropped


@pytest.mark.parametrize("shape, p, seed, step, first_row", [
    ((3, 5), 0.5, 0, 0, 0),
    ((4, 2, 3), 0.3, 123456789, 41, 0),
    ((2, 7), 0.9, 2**32 - 1, 2**32 - 1, 5),
    ((3, 4), 0.25, 99, 3, 2**30),  # global indices wrap around 2**32
])
def test_keep_mask_equals_the_pure_python_definition(shape, p, seed, step, first_row):
    ours = keep_mask(shape, p, seed, step, first_row)
    assert ours.dtype == np.bool_ and ours.shape == shape
    np.testing.assert_array_equal(ours, keep_reference(shape, p, seed, step, first_row))


def test_the_cpu_pieces_join_into_the_same_mask(monkeypatch):
    """The hash runs over cache-sized pieces on the CPU: pieces of 3 and 8 elements give the same mask."""
    from tinyalex.ops import dropout as module

    whole = keep_mask((5, 7), 0.4, 21, 6, 3)
    for piece_bytes in (12, 32):
        monkeypatch.setattr(module, "CHUNK_BYTES", piece_bytes)
        np.testing.assert_array_equal(keep_mask((5, 7), 0.4, 21, 6, 3), whole)
    np.testing.assert_array_equal(whole, keep_reference((5, 7), 0.4, 21, 6, 3))


def test_a_shard_of_rows_is_the_slice_of_the_whole_batch():
    whole = keep_mask((10, 3, 4), 0.5, 7, 2, 0)
    for start, stop in [(0, 3), (3, 7), (7, 10), (4, 4)]:
        part = keep_mask((stop - start, 3, 4), 0.5, 7, 2, start)
        np.testing.assert_array_equal(part, whole[start:stop])


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_the_kept_fraction_is_one_minus_p(p):
    n = 200_000
    for seed, step in [(0, 0), (1, 5), (12345, 2**31)]:
        kept = keep_mask((n // 100, 100), p, seed, step).mean()
        assert abs(kept - (1 - p)) < 5 * np.sqrt(p * (1 - p) / n)  # 5 standard errors of a binomial


def test_consecutive_steps_and_neighbouring_units_are_uncorrelated():
    n = 100_000
    masks = [keep_mask((n,), 0.5, 3, step).astype(np.float64) for step in range(4)]
    for a, b in zip(masks, masks[1:]):
        assert abs(np.corrcoef(a, b)[0, 1]) < 5 / np.sqrt(n)  # correlation of independent masks: sd 1/sqrt(n)
    first = masks[0]
    assert abs(np.corrcoef(first[:-1], first[1:])[0, 1]) < 5 / np.sqrt(n)  # unit i against unit i + 1
    for row, col in [(1000, 100), (100, 1000)]:  # unit (r, j) against (r + 1, j), same column
        grid = first.reshape(row, col)
        assert abs(np.corrcoef(grid[:-1].ravel(), grid[1:].ravel())[0, 1]) < 5 / np.sqrt(n)


def test_different_seeds_give_different_masks_and_one_seed_one_mask():
    a, b = keep_mask((64, 64), 0.5, 1, 0), keep_mask((64, 64), 0.5, 2, 0)
    assert 0.4 < (a != b).mean() < 0.6  # independent halves disagree about half the time
    np.testing.assert_array_equal(keep_mask((64, 64), 0.5, 1, 0), a)
    seeds = [keep_mask((4096,), 0.5, seed, 0) for seed in range(8)]
    assert len({m.tobytes() for m in seeds}) == 8


def test_p_zero_keeps_everything_and_bad_seeds_are_refused():
    assert keep_mask((5, 5), 0.0, 0, 0).all()  # threshold 0: every uint32 passes
    for seed in (-1, 2**32, 1.5, True, "3"):
        with pytest.raises(ValueError, match=r"dropout: seed must be an integer in \[0, 2\*\*32\)"):
            keep_mask((2,), 0.5, seed, 0)
    with pytest.raises(ValueError, match=r"dropout: seed must be an integer in \[0, 2\*\*32\)"):
        nn.Dropout(0.5, seed=-3)


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_p_outside_zero_to_one_is_refused(p):
    with pytest.raises(ValueError, match=rf"dropout: p must be in \[0, 1\), got {p}"):
        F.dropout(np.ones(3, np.float32), p)
    with pytest.raises(ValueError, match=rf"dropout: p must be in \[0, 1\), got {p}"):
        nn.Dropout(p)  # when the layer is built, not at its first training step


def test_test_time_and_p_zero_are_the_identity(xp):
    x = xp.asarray(np.random.default_rng(0).standard_normal((3, 4)))
    for y in (F.dropout(x, 0.5, training=False), F.dropout(x, 0.0)):
        assert to_cpu(y.data).tolist() == to_cpu(x).tolist()


@pytest.mark.parametrize("p", [0.5, 0.2, 0.9])
def test_kept_units_are_scaled_by_one_over_keep_probability(xp, p):
    x = xp.asarray(np.random.default_rng(1).standard_normal((50, 40)) + 5)  # no zeros of its own
    y = to_cpu(F.dropout(x, p, seed=2).data)
    kept = y != 0
    np.testing.assert_array_equal(kept, keep_mask((50, 40), p, 2, 0))
    np.testing.assert_allclose(y[kept], to_cpu(x)[kept] / (1 - p), rtol=1e-12)


def test_expected_training_output_is_the_test_output():
    x = np.random.default_rng(3).standard_normal(20)
    trials = np.stack([F.dropout(x, 0.5, seed=4, step=step).data for step in range(20000)])
    # each unit's mean over 20000 draws of x_i * {0, 2} has standard deviation |x_i| / sqrt(20000)
    assert np.all(np.abs(trials.mean(axis=0) - x) < 5 * np.abs(x) / np.sqrt(len(trials)))
    np.testing.assert_array_equal(F.dropout(x, 0.5, training=False).data, x)


def test_layer_expected_value_in_train_equals_eval():
    layer = nn.Dropout(0.5, seed=5)
    x = np.full((200, 500), 2.0, np.float32)
    train_mean = float(layer(x).data.mean())
    layer.eval()
    assert np.array_equal(layer(x).data, x)
    assert abs(train_mean - 2.0) < 5 * 2.0 / np.sqrt(x.size)  # mean of 1e5 draws of {0, 4}: sd 2 / sqrt(1e5)


def test_the_layer_draws_mask_step_then_advances():
    x = np.ones((8, 8), np.float32)
    a, b = nn.Dropout(0.5, seed=9), nn.Dropout(0.5, seed=9)
    first = a(x).data
    assert np.array_equal(first, b(x).data)  # two layers seeded alike drop alike
    assert a.step == 1 and not np.array_equal(a(x).data, first)  # and each call draws a fresh mask
    np.testing.assert_array_equal(first != 0, keep_mask((8, 8), 0.5, 9, 0))
    b.skip()  # a worker with no rows this step keeps its counter in step with the others
    np.testing.assert_array_equal(b(x).data != 0, keep_mask((8, 8), 0.5, 9, 2))
    a.eval()
    a(x)
    assert a.step == 2  # evaluation draws nothing and does not advance
    unseeded = nn.Dropout(0.5)
    assert 0 <= unseeded.seed < 2**32 and unseeded.seed != nn.Dropout(0.5).seed  # fresh random seeds


def test_the_layer_uses_its_first_row():
    x = np.ones((6, 5), np.float32)
    whole = nn.Dropout(0.5, seed=11)(x).data
    shard = nn.Dropout(0.5, seed=11)
    shard.first_row = 4
    np.testing.assert_array_equal(shard(x[4:]).data, whole[4:])


def test_functional_dropout_without_a_seed_is_random():
    x = np.ones((64, 64), np.float32)
    assert not np.array_equal(F.dropout(x, 0.5).data, F.dropout(x, 0.5).data)
    np.testing.assert_array_equal(F.dropout(x, 0.5, seed=1).data, F.dropout(x, 0.5, seed=1).data)


def test_backward_uses_the_forward_mask(xp):
    x = Tensor(xp.asarray(np.random.default_rng(10).standard_normal((6, 7)) + 5), requires_grad=True)
    y = F.dropout(x, 0.4, seed=11)
    gy = np.random.default_rng(12).standard_normal((6, 7))
    y.backward(xp.asarray(gy))
    mask = to_cpu(y.data) / to_cpu(x.data)  # 0 or 1 / 0.6 per unit
    np.testing.assert_allclose(to_cpu(x.grad), gy * mask, rtol=1e-12)


def test_gradcheck_with_a_fixed_mask(xp):
    x = xp.asarray(np.random.default_rng(13).standard_normal((4, 5)))
    gradcheck(lambda x: F.dropout(x, 0.3, seed=14), [x])  # raises when backward is wrong


def test_dtype_is_kept(xp):
    for dtype in (np.float32, np.float64):
        x = xp.ones((4, 4), dtype=dtype)
        assert F.dropout(x, 0.5, seed=0).dtype == dtype


@pytest.mark.gpu
def test_masks_are_the_same_on_cpu_and_gpu():
    x = np.ones((16, 16), np.float32)
    on_cpu = F.dropout(x, 0.5, seed=15, step=3, first_row=2).data
    on_gpu = F.dropout(to_gpu(x), 0.5, seed=15, step=3, first_row=2).data
    np.testing.assert_array_equal(to_cpu(on_gpu), on_cpu)
