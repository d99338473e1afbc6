# %% [markdown]
# # Lesson 8 — Dropout and the paper's test-time scaling
#
# AlexNet's 60 million parameters overfit 1.2 million images. One of the paper's two remedies (Section 4.2) is
# **dropout**: while training, every hidden unit of fc6 and fc7 is set to zero with probability 0.5, so that a unit
# "cannot rely on the presence of particular other neurons". At test time all units are used, their outputs
# multiplied by 0.5.
#
# **You will learn**
# - the paper's form of dropout and the *inverted* form tinyalex (like PyTorch) uses, and why they agree;
# - why multiplying by $1-p$ at test time is the right correction (the expectation), and the exact sense in which
#   it averages exponentially many networks;
# - how dropout behaves in a layer (`train()` / `eval()`), and what it does to a small overfitting network.
#
# You write both forms of dropout and the geometric mean over all masks (graded exercises 8.1 to 8.3).

# %%
DEVICE = "cpu"  # "gpu" runs the tinyalex calls on CuPy (the masks drawn there, by one kernel)

import itertools

import matplotlib.pyplot as plt
import numpy as np

import facts
import tinyalex
from grading import check
from tinyalex import functional as F
from tinyalex import nn
from tinyalex.ops.dropout import Dropout

plt.rcParams.update({"figure.dpi": 72, "figure.figsize": (6, 3.5)})
rng = np.random.default_rng(0)

def dev(a, requires_grad=False):
    return tinyalex.Tensor(a, requires_grad=requires_grad, device=DEVICE)

# %% [markdown]
# ## 1. Two ways to write it
#
# With a mask $m_i \sim \text{Bernoulli}(1-p)$ drawn anew for every example and every step:
#
# | | training | test |
# |---|---|---|
# | paper | $y_i = m_i\, x_i$ | $y_i = (1-p)\, x_i$ |
# | inverted (tinyalex, PyTorch) | $y_i = m_i\, x_i / (1-p)$ | $y_i = x_i$ |
#
# In both, the test-time output equals the *expected* training-time output: $\mathbb{E}[m_i x_i] = (1-p) x_i$, and
# $\mathbb{E}[m_i x_i/(1-p)] = x_i$. The inverted form moves the correction into training, so the network used at
# test time (and saved in checkpoints) needs no special case. The two forms train the same network up to a factor
# $1/(1-p) = 2$ in the weights of the next layer.

# %%
x = np.arange(1.0, 9.0)
layer = nn.Dropout(p=0.5, seed=0)
print("training:", layer(dev(x)).numpy())
print("training:", layer(dev(x)).numpy(), "(a new mask)")
layer.eval()
print("test:    ", layer(dev(x)).numpy())

# %% [markdown]
# Expected:
# ```
# training: [ 0.  4.  6.  0.  0.  0. 14.  0.]
# training: [ 0.  0.  6.  8.  0.  0. 14. 16.] (a new mask)
# test:     [1. 2. 3. 4. 5. 6. 7. 8.]
# ```
# (Each mask is a fixed function of the layer's seed, `seed=0`, the number of masks it has drawn before, and the
# unit's position in the batch: an integer hash, not a stateful generator. So these numbers are reproducible, on a
# GPU too, and a batch split over several workers gets the same mask as the whole batch.) The backward pass
# multiplies the gradient by the same mask: dropped units get no gradient.
#
# **Exercise 8.1.** Write the paper's form, `paper_dropout(x, keep, p, training)`: `keep` is the mask, a boolean
# array shaped like `x` (True where the unit is kept, drawn with probability $1 - p$ by the caller); in training
# return $m \odot x$, at test time $(1-p)\,x$ (the mask is then ignored).
#
# **Exercise 8.2.** Write the inverted form's training pass with its backward, `inverted_dropout(x, gy, keep, p)`:
# return $y = m \odot x / (1 - p)$ and, for the upstream gradient `gy`, $\partial L/\partial x$.
#
# The checks compare with tinyalex's `Dropout` operation run on the same masks (the paper's form is $(1-p)$ times the
# inverted one in training).

# %%
def paper_dropout(x, keep, p, training):
    """The paper's dropout: zero the dropped units in training, scale by 1 - p at test time."""
    ### BEGIN SOLUTION
    if not training:
        return x * (1 - p)
    return x * keep
    ### END SOLUTION


def inverted_dropout(x, gy, keep, p):
    """Inverted dropout in training: (y, dL/dx) with the kept units scaled by 1 / (1 - p)."""
    ### BEGIN SOLUTION
    mask = keep / (1 - p)
    return x * mask, gy * mask
    ### END SOLUTION

# %%
def dropout_case(rng):
    x = rng.standard_normal((6, 8))
    p = float(rng.choice([0.2, 0.3, 0.6, 0.7]))            # not 0.5, where p and 1 - p cannot be told apart
    return dict(x=x, keep=rng.random(x.shape) >= p, p=p)

def tinyalex_inverted(x, gy, keep, p):
    t = tinyalex.Tensor(x, requires_grad=True)
    y = Dropout(keep / (1 - p))(t)                     # tinyalex's op, given the mask
    y.backward(gy)
    return y.numpy(), t.grad

def paper_reference(x, keep, p, training):
    return (1 - p) * (tinyalex_inverted(x, np.zeros_like(x), keep, p)[0] if training else x)

check(paper_dropout, paper_reference, cases=lambda rng: dict(dropout_case(rng), training=True))
check(paper_dropout, paper_reference, cases=lambda rng: dict(dropout_case(rng), training=False))
check(inverted_dropout, tinyalex_inverted, cases=lambda rng: dict(dropout_case(rng), gy=rng.standard_normal((6, 8))))

# %% [markdown]
# ## 2. The expectation, measured
#
# Averaging the training-time output of one unit over many masks approaches the test-time output:

# %%
unit = np.full((20000, 1), 3.0)
samples = F.dropout(dev(unit), p=0.5, seed=1).numpy().ravel()
print(f"mean over 20,000 masks: {samples.mean():.3f}  (test-time output: 3.0)")
plt.hist(samples, bins=[-0.5, 0.5, 5.5, 6.5], rwidth=0.8)
plt.xticks([0, 3, 6])
plt.axvline(3.0, color="k", ls="--", label="test-time output")
plt.xlabel("training-time output of a unit with input 3")
plt.legend()
plt.show()

# %% [markdown]
# ## 3. "A very efficient version of model combination"
#
# Each of the $2^d$ masks of a $d$-unit layer defines a different thinned network, and they all share weights.
# Using all units, scaled, at test time stands in for averaging their predictions. For one layer followed by a
# softmax this is *exact*, for the **normalised geometric mean**: with logits $z(m) = W (m \odot x) + b$,
#
# $$ \frac{\big(\prod_m \text{softmax}(z(m))\big)^{1/2^d}}{\text{normaliser}} = \text{softmax}\Big(\frac{1}{2^d}\sum_m z(m)\Big) = \text{softmax}\big(W (\tfrac12 x) + b\big), $$
#
# because the log of a softmax is the logits minus a constant, and the logits are linear in the mask. We can
# enumerate all $2^{10} = 1024$ masks of a 10-unit layer and check:

# %%
d, k = 10, 4
x = rng.standard_normal(d)
W = rng.standard_normal((k, d))
b = rng.standard_normal(k)

def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)

masks = np.array(list(itertools.product([0, 1], repeat=d)))        # (1024, 10), each with probability 2^-10
predictions = softmax((masks * x) @ W.T + b)                       # (1024, 4): every thinned network
geometric = np.exp(np.log(predictions).mean(axis=0))
geometric /= geometric.sum()
arithmetic = predictions.mean(axis=0)
scaled = softmax(W @ (0.5 * x) + b)                                 # the paper's test-time network
print("normalised geometric mean:", np.round(geometric, 6))
print("scaled network:           ", np.round(scaled, 6))
print("arithmetic mean:          ", np.round(arithmetic, 6))
top = int(scaled.argmax())
facts.record(measured=True, geometric_vs_scaled=np.abs(geometric - scaled).max(), arithmetic_top=arithmetic[top],
             scaled_top=scaled[top])

# %% [markdown]
# **Exercise 8.3.** Compute the normalised geometric mean yourself: `geometric_mean_prediction(W, b, x)` enumerates all
# $2^d$ masks of the $d$ inputs (`itertools.product([0, 1], repeat=d)`), computes the softmax of every thinned
# network's logits $W (m \odot x) + b$, averages the *logarithms* of the probabilities over the masks, takes the
# exponential and normalises it to sum to 1. Subtract each row's maximum before `np.exp` (lesson 2). The check
# compares your result with the scaled network `softmax(W @ (x / 2) + b)`, which the identity above says it must equal.

# %%
def geometric_mean_prediction(W, b, x):
    """The normalised geometric mean over all 2^d dropout masks of x of softmax(W (m * x) + b)."""
    ### BEGIN SOLUTION
    masks = np.array(list(itertools.product([0, 1], repeat=len(x))))
    z = (masks * x) @ W.T + b
    log_p = z - z.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    mean = np.exp(log_p.mean(axis=0))
    return mean / mean.sum()
    ### END SOLUTION

# %%
def network_case(rng):
    d, k = int(rng.integers(6, 11)), int(rng.integers(3, 6))
    return dict(W=rng.standard_normal((k, d)), b=rng.standard_normal(k), x=rng.standard_normal(d))

def scaled_network(W, b, x):
    z = W @ (0.5 * x) + b
    e = np.exp(z - z.max())
    return e / e.sum()

check(geometric_mean_prediction, scaled_network, cases=network_case, rtol=1e-9)

# %% [markdown]
# The first two rows agree to every digit (their largest difference is {{geometric_vs_scaled:.0e}}); the plain average
# of the probabilities is a different thing: it gives the likeliest class {{arithmetic_top:.3f}} where the other two
# give {{scaled_top:.3f}}. With hidden ReLU layers after the dropout (AlexNet drops fc6's outputs, which pass through
# fc7 and its ReLU) the scaling is only an approximation of either mean (question 1 measures how far off it is);
# the paper calls it "a reasonable approximation to taking the geometric mean", and found that it works.
#
# ## 4. What it does to an overfitting network
#
# A wide two-hidden-layer network on 80 noisy points in the plane (an XOR pattern, 15% of the labels flipped) can
# memorise them; dropout on its hidden layers makes memorising harder. We train each network from the same initial
# weights for 500 steps of full-batch momentum SGD, with and without dropout, on three different draws of the
# training points, and measure the test error against the noise-free pattern on 2000 new points.

# %%
def make_points(n, seed, noise=0.15):
    g = np.random.default_rng(seed)
    x = g.uniform(-1, 1, (n, 2))
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)                     # an XOR pattern
    flip = g.random(n) < noise                                     # label noise
    return x.astype(np.float32), np.where(flip, 1 - y, y)

x_test, y_test = make_points(2000, 99, noise=0.0)

def network(p):
    g = np.random.default_rng(3)
    layers = [nn.Linear(2, 256, weight_std=0.7, rng=g), nn.ReLU()]
    layers += [nn.Dropout(p, seed=4)] if p else []
    layers += [nn.Linear(256, 256, weight_std=0.09, rng=g), nn.ReLU()]
    layers += [nn.Dropout(p, seed=5)] if p else []
    layers += [nn.Linear(256, 2, weight_std=0.09, rng=g)]
    return nn.Sequential(*layers).to(DEVICE)

def error(model, x, y):
    model.eval()
    with tinyalex.no_grad():
        wrong = (tinyalex.to_cpu(model(dev(x)).data).argmax(axis=1) != y).mean()
    model.train()
    return wrong

def train(p, x, y, steps=500, lr=0.05):
    model = network(p)
    params = model.parameters()
    velocity = [0 * q.data for q in params]
    for step in range(steps):
        loss = F.softmax_cross_entropy(model(dev(x)), dev(y))
        model.zero_grad()
        loss.backward()
        for q, v in zip(params, velocity):   # momentum SGD (lesson 11)
            v *= 0.9
            v -= lr * q.grad
            q.data += v
    return model

print("training points   no dropout (train / test)   dropout 0.5 (train / test)")
models, test_errors = {}, {}
for seed in (1, 2, 3):
    x_train, y_train = make_points(80, seed)
    row = []
    for p in (0.0, 0.5):
        models[seed, p] = train(p, x_train, y_train)
        test_errors[seed, p] = error(models[seed, p], x_test, y_test)
        row.append(f"{error(models[seed, p], x_train, y_train):6.1%} / {test_errors[seed, p]:5.1%}")
    print(f"draw {seed}            {row[0]}             {row[1]}")
facts.record(measured=True, test_without=[test_errors[seed, 0.0] for seed in (1, 2, 3)],
             test_with=[test_errors[seed, 0.5] for seed in (1, 2, 3)])

# %%
seed = 2
x_train, y_train = make_points(80, seed)
side = np.linspace(-1, 1, 120)
grid = np.stack(np.meshgrid(side, side), axis=-1).reshape(-1, 2).astype(np.float32)
fig, axes = plt.subplots(1, 2, figsize=(8, 3.8))
for ax, p in zip(axes, (0.0, 0.5)):
    model = models[seed, p].eval()
    with tinyalex.no_grad():
        prob = F.softmax(model(dev(grid))).numpy()[:, 1].reshape(120, 120)
    ax.contourf(side, side, prob, levels=[0, 0.5, 1], colors=["#f4c7a1", "#a9c8e8"])
    ax.scatter(*x_train.T, c=np.where(y_train, "tab:blue", "tab:orange"), edgecolors="k", s=30)
    ax.set_title(f"draw {seed}, dropout p = {p}")
    ax.set_aspect("equal")
plt.show()

# %% [markdown]
# Without dropout the network bends its boundary around the mislabelled points, for a lower training error. With
# dropout it fits the training points less tightly, and on draws 2 and 3 its boundary is closer to the true quadrants
# (test error {{test_with[1]:.1%}} and {{test_with[2]:.1%}} with dropout, against {{test_without[1]:.1%}} and
# {{test_without[2]:.1%}} without); on draw 1 dropout does worse ({{test_with[0]:.1%}} against
# {{test_without[0]:.1%}}). One small run is a noisy measurement, which is why there are three draws, and two better
# and one worse is no proof either way. In AlexNet the same trade made training "roughly double the number of
# iterations required to
# converge", and was worth it: without dropout the network overfitted substantially.
#
# ## Questions
#
# 1. In section 3, replace the softmax layer by a layer with a ReLU between two linear maps and compare the three
#    rows again. Which one does the scaled network stay closest to?
# 2. With $p = 0.5$, how many different thinned versions of fc6 (4096 units) are there?
#
# The answers are in the collapsed cell below.

# %% [solution]
def three_means(g):
    """Geometric mean, arithmetic mean and scaled network for a random net with a hidden ReLU layer of 6 units."""
    W1, W2, x = g.standard_normal((6, d)), g.standard_normal((k, 6)), g.standard_normal(d)
    predictions = softmax(np.maximum((masks * x) @ W1.T, 0) @ W2.T)
    geometric = np.exp(np.log(predictions).mean(axis=0))
    return geometric / geometric.sum(), predictions.mean(axis=0), softmax(np.maximum(W1 @ (0.5 * x), 0) @ W2.T)

geometric, arithmetic, scaled = three_means(np.random.default_rng(5))
print("1. geometric", np.round(geometric, 4), "\n   arithmetic", np.round(arithmetic, 4),
      "\n   scaled    ", np.round(scaled, 4))
distances = np.array([[np.abs(s - g).max(), np.abs(s - a).max()] for g, a, s in map(three_means, [np.random.default_rng(i) for i in range(200)])])
print(f"   no longer exact: the ReLU is not linear in the mask. Over 200 random networks the scaled network is closer"
      f" to the geometric mean in {np.mean(distances[:, 0] < distances[:, 1]):.0%} of them; its largest difference"
      f" from it is {np.median(distances[:, 0]):.3f} (median), from the arithmetic mean {np.median(distances[:, 1]):.3f}:"
      " a little closer to the geometric mean, typically, but close to neither.")
print(f"2. 2^4096, a number with {int(4096 * np.log10(2)) + 1} digits")

# %% [markdown]
# ## The numbers quoted in this lesson

# %%
facts.show()
