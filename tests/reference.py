"""Slow, obviously correct references for the fast ops: plain loops over NumPy float64 arrays.

Each follows its definition (or the paper's formula) one output element at a time, with
no im2col, no vectorised windows and no shared helpers, so that a bug in the fast op
cannot hide in the reference too. Max pooling and its gradient pick the first maximum
of a window in row-major order, as PyTorch, Caffe and Chainer do.
"""
import numpy as np


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def conv2d(x, w, b=None, stride=1, padding=0, groups=1):
    """y[n, o, i, j] = b[o] + sum_{c in o's group, u, v} w[o, c, u, v] * xpad[n, c, i*sh + u, j*sw + v]."""
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    n, c, h, width = x.shape
    o, cg, kh, kw = w.shape
    oh, ow = (h + 2 * ph - kh) // sh + 1, (width + 2 * pw - kw) // sw + 1
    per_group = o // groups
    y = np.zeros((n, o, oh, ow))
    for b_ in range(n):
        for f in range(o):
            first = (f // per_group) * cg  # the first input channel of this filter's group
            for i in range(oh):
                for j in range(ow):
                    total = 0.0 if b is None else float(b[f])
                    for ch in range(cg):
                        for u in range(kh):
                            for v in range(kw):
                                r, s = i * sh + u - ph, j * sw + v - pw
                                if 0 <= r < h and 0 <= s < width:
                                    total += w[f, ch, u, v] * x[b_, first + ch, r, s]
                    y[b_, f, i, j] = total
    return y


def local_response_norm(x, size=5, alpha=1e-4, beta=0.75, k=2.0):
    """b_i = a_i / (k + alpha * sum_j a_j^2)^beta, j over channels i - size//2 .. i + (size-1)//2 that exist."""
    channels = x.shape[1]
    y = np.zeros(x.shape)
    for i in range(channels):
        lo, hi = max(0, i - size // 2), min(channels - 1, i + (size - 1) // 2)
        total = np.zeros(x[:, 0].shape)
        for j in range(lo, hi + 1):
            total += x[:, j] ** 2
        y[:, i] = x[:, i] / (k + alpha * total) ** beta
    return y


def _pool_output_shape(x, kernel, stride, padding):
    (kh, kw), (sh, sw), (ph, pw) = _pair(kernel), _pair(stride if stride is not None else kernel), _pair(padding)
    n, c, h, w = x.shape
    return n, c, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1


def _first_max(x, kernel, stride, padding, b, ch, i, j):
    """(r, s) of the first maximum in row-major order of output (i, j)'s window; padding never wins."""
    (kh, kw), (sh, sw), (ph, pw) = _pair(kernel), _pair(stride if stride is not None else kernel), _pair(padding)
    best = None
    for u in range(kh):
        for v in range(kw):
            r, s = i * sh + u - ph, j * sw + v - pw
            if 0 <= r < x.shape[2] and 0 <= s < x.shape[3] and (best is None or x[b, ch, r, s] > x[b, ch][best]):
                best = (r, s)
    return best


def max_pool2d(x, kernel, stride=None, padding=0):
    """y[n, c, i, j] = the maximum of the window."""
    y = np.zeros(_pool_output_shape(x, kernel, stride, padding))
    for b, ch, i, j in np.ndindex(*y.shape):
        y[b, ch, i, j] = x[b, ch][_first_max(x, kernel, stride, padding, b, ch, i, j)]
    return y


def max_pool2d_grad(x, gy, kernel, stride=None, padding=0):
    """dL/dx: each window sends its gy to exactly one element, its first maximum."""
    gx = np.zeros(x.shape)
    for b, ch, i, j in np.ndindex(*gy.shape):
        r, s = _first_max(x, kernel, stride, padding, b, ch, i, j)
        gx[b, ch, r, s] += gy[b, ch, i, j]
    return gx


def linear(x, w, b=None):
    """y[n, o] = b[o] + sum_i x[n, i] w[o, i]."""
    y = np.zeros((x.shape[0], w.shape[0]))
    for n in range(x.shape[0]):
        for o in range(w.shape[0]):
            y[n, o] = (0.0 if b is None else b[o]) + sum(x[n, i] * w[o, i] for i in range(w.shape[1]))
    return y


def softmax_cross_entropy(z, labels):
    """-(1/N) sum_n log(exp(z[n, t_n]) / sum_k exp(z[n, k])), with the max subtracted for stability."""
    total = 0.0
    for row, t in zip(z, labels):
        m = max(row)
        total -= (row[t] - m) - np.log(sum(np.exp(v - m) for v in row))
    return total / len(labels)
