# %% [markdown]
# # Lesson 2 — Autograd from scratch
#
# Training AlexNet means computing the derivative of one number (the loss) with respect to 61 million
# parameters, many times a second. Nobody writes that derivative by hand: each operation knows its own local
# derivative, and an *automatic differentiation* engine chains them together. This lesson builds such an engine in
# about forty lines, then meets tinyalex's, which works the same way.
#
# **You will learn**
# - how a computation records a graph of operations as it runs;
# - how the chain rule, applied backwards through that graph, gives every gradient in one pass;
# - why the backward pass must visit the operations in *topological order* (and what goes wrong otherwise);
# - the backward of the linear layer and of the softmax cross-entropy, derived by hand;
# - how to write your own operation for tinyalex: a `Function` with `forward` and `backward`.
#
# You write the depth-first topological sort and the two backward passes (graded exercises 2.1 to 2.3).

# %%
DEVICE = "cpu"  # the engine is the same on "gpu"; this lesson's arrays are tiny

import matplotlib.pyplot as plt
import numpy as np

import facts
import tinyalex
from grading import check, order_problem, random_graph
from tinyalex import functional as F

plt.rcParams.update({"figure.dpi": 72, "figure.figsize": (6, 3.5)})

# %% [markdown]
# ## 1. The chain rule, backwards
#
# Take $y = \exp(x^2)$, computed as $a = x^2$, then $y = \exp(a)$. The chain rule says
#
# $$\frac{dy}{dx} = \frac{dy}{da}\,\frac{da}{dx} = \exp(a)\cdot 2x .$$
#
# Read right to left this is the forward computation; read left to right it is the **backward pass**: start from
# $\partial y/\partial y = 1$, and let each operation turn the gradient of its output into the gradient of its
# input by multiplying with its local derivative. An operation therefore needs two methods: `forward` (compute
# the output, remember what the derivative will need) and `backward` (given $\partial L/\partial\text{output}$,
# return $\partial L/\partial\text{input}$).
#
# ## 2. A tiny engine
#
# A `Variable` holds an array, its gradient, and the `Function` that created it (its *creator*). Calling a
# `Function` on variables runs `forward` and links the output back to the function, so the graph is recorded as
# a side effect of computing.
#
# The backward pass may only call a function's `backward` once the gradient of its output is *complete*, i.e. once
# every function that used that output has sent its share back. An order in which each function comes after all
# the functions that consume its output is a **topological order** of the graph (read backwards). This engine gets
# one the way tinyalex (and DeZero) does: every function has a *generation*, one more than the newest function
# behind its inputs, so a function that uses an output always has a larger generation than the function that
# made it; running the functions from the largest generation down is then a topological order.

# %%
class Variable:
    def __init__(self, data):
        self.data = np.asarray(data, dtype=np.float64)
        self.grad = None
        self.creator = None
        self.generation = 0                        # one more than its creator's

    def backward(self):
        self.grad = np.ones_like(self.data)
        for f in by_generation(self):              # outputs before inputs
            grads = f.backward(f.output.grad)
            for x, g in zip(f.inputs, grads):
                x.grad = g if x.grad is None else x.grad + g   # a variable used twice gets both


class Function:
    def __call__(self, *inputs):
        self.inputs = inputs
        self.generation = max(x.generation for x in inputs)
        self.output = Variable(self.forward(*[x.data for x in inputs]))
        self.output.creator = self
        self.output.generation = self.generation + 1
        return self.output


def by_generation(y):
    """Every function y depends on, newest generation first: a topological order."""
    functions, todo, seen = [], [y.creator], set()
    while todo:
        f = todo.pop()
        if f is None or id(f) in seen:
            continue
        seen.add(id(f))
        functions.append(f)
        todo.extend(x.creator for x in f.inputs)
    return sorted(functions, key=lambda f: f.generation, reverse=True)


class Square(Function):
    def forward(self, x):
        return x**2

    def backward(self, gy):
        (x,) = self.inputs
        return (2 * x.data * gy,)


class Exp(Function):
    def forward(self, x):
        self.y = np.exp(x)
        return self.y

    def backward(self, gy):
        return (self.y * gy,)


class Add(Function):
    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        return gy, gy


class Mul(Function):
    def forward(self, a, b):
        return a * b

    def backward(self, gy):
        a, b = self.inputs
        return b.data * gy, a.data * gy

x = Variable(1.5)
y = Exp()(Square()(x))
y.backward()
print(f"y = {float(y.data):.6f}, dy/dx = {float(x.grad):.6f}, exact 2x exp(x^2) = {2 * 1.5 * np.exp(1.5**2):.6f}")

# %% [markdown]
# Expected: `y = 9.487736, dy/dx = 28.463208, exact 2x exp(x^2) = 28.463208`.
#
# **Exercise 2.1.** The textbook way to a topological order is a depth-first search: visit a function, first
# visit the creators of all its inputs (everything *upstream* of it, which it depends on), then append it to a
# list; every function is then listed after everything it depends on, and the reversed list has the outputs first.
# Mark the functions you have visited (a `set` of `id(f)`), or a function used twice is listed twice. Write
# `topological_order(y)`. The check builds random graphs with reused variables and verifies that your list holds
# every function once, each before the functions that made its inputs.

# %%
def topological_order(y):
    """Every function behind the variable y, each listed before the functions that made its inputs."""
    ### BEGIN SOLUTION
    order, seen = [], set()

    def visit(f):
        if f is None or id(f) in seen:
            return
        seen.add(id(f))
        for x in f.inputs:
            visit(x.creator)
        order.append(f)           # after everything it depends on

    visit(y.creator)
    return order[::-1]            # reversed: outputs first
    ### END SOLUTION

# %%
check(topological_order, cases=lambda rng: dict(y=random_graph(rng)), verify=order_problem)

# %% [markdown]
# ## 3. Why the order matters
#
# In $y = a\cdot a + a$ with $a = x^2$, the variable $a$ is used three times. Its gradient is
# $\partial y/\partial a = 2a + 1$, and only after all three contributions have arrived may `Square` pass
# $\partial y/\partial x = (2a+1)\cdot 2x$ on. A naive recursive backward that propagates as soon as *one*
# contribution arrives runs `Square.backward` once per contribution, each time with a partial gradient.

# %%
def naive_backward(y):
    """Depth-first, propagating each contribution immediately, without waiting for the others."""
    y.grad = np.ones_like(y.data)

    def push(v, g):
        if v.creator is None:
            v.grad = g if v.grad is None else v.grad + g
            return
        for x, gx in zip(v.creator.inputs, v.creator.backward(g)):
            push(x, gx)

    push(y, y.grad)

calls = {"n": 0}
class CountingSquare(Square):
    def backward(self, gy):
        calls["n"] += 1
        return super().backward(gy)

def counted_graph(x):
    a = CountingSquare()(x)
    return Add()(Mul()(a, a), a)

for name, run in [("generation order", lambda y: y.backward()), ("naive", naive_backward)]:
    calls["n"] = 0
    x = Variable(2.0)
    run(counted_graph(x))
    print(f"{name:16s} dy/dx = {float(x.grad):5.1f}   Square.backward called {calls['n']} time(s)")
print("exact (2a+1)*2x:  ", (2 * 2.0**2 + 1) * 2 * 2.0)

# %% [markdown]
# Both get the right number here, and that is no accident: every `backward` of this engine is *linear* in `gy`, so
# sending the three contributions through `Square.backward` one by one and adding the results at the leaf gives
# what sending their sum once gives. The naive version is only wasteful: `Square.backward` runs three times instead
# of once, and in a deep network where many tensors are reused the repeated work grows exponentially.
#
# It becomes *wrong* as soon as a backward is not linear in `gy`. Gradient clipping is such a backward, used in
# practice to keep a step from exploding: the identity going forward, `gy` clipped to $[-1, 1]$ coming back.
# Clipping the sum of three contributions is not the sum of the three clipped:

# %%
class ClipGradient(Function):
    def forward(self, x):
        return x

    def backward(self, gy):
        return (np.clip(gy, -1.0, 1.0),)

def clipped_graph(x):
    a = ClipGradient()(Square()(x))
    return Add()(Mul()(a, a), a)

results = {}
for name, run in [("generation order", lambda y: y.backward()), ("naive", naive_backward)]:
    x = Variable(2.0)
    run(clipped_graph(x))
    results[name] = float(x.grad)
    print(f"{name:16s} dy/dx = {results[name]:5.1f}")
print("intended: dy/da = 2a + 1 = 9, clipped to 1, times da/dx = 2x = 4, gives 4.0")
facts.record(clip_right=results["generation order"], clip_naive=results["naive"])

# %% [markdown]
# The naive backward clips each contribution on its own ($a = 4$ from each side of the product, both clipped to 1,
# and 1 from the sum), adds the three and multiplies by $2x$: {{clip_naive:.1f}} instead of {{clip_right:.1f}}. Backward functions with side effects fail the same way:
# real engines free what `forward` saved as soon as `backward` has run once, and a second call finds nothing.
# Waiting for the complete gradient, which is what the topological order buys, makes every backward run once.
#
# ## 4. Two derivations by hand
#
# An engine only chains derivatives; someone has to derive each operation's `backward`. Here are the two that end
# AlexNet (lesson 10): the fully connected layer and the softmax cross-entropy loss. Write $g = \partial L/\partial y$
# for the gradient arriving from above, and work one index at a time.
#
# **The linear layer** $y = x W^{\top} + b$: $x$ is $(N, I)$, $W$ is $(O, I)$ as in PyTorch and tinyalex, $b$ is
# $(O)$, so $y_{n,o} = \sum_i x_{n,i} W_{o,i} + b_o$. Each input element reaches the loss through every output it
# feeds, so the chain rule sums over those:
#
# $$ \frac{\partial L}{\partial x_{n,i}} = \sum_o g_{n,o}\, \frac{\partial y_{n,o}}{\partial x_{n,i}} = \sum_o g_{n,o} W_{o,i}
#    \quad\Rightarrow\quad \frac{\partial L}{\partial x} = g\, W \qquad (N, O)(O, I) = (N, I) $$
#
# $$ \frac{\partial L}{\partial W_{o,i}} = \sum_n g_{n,o}\, x_{n,i}
#    \quad\Rightarrow\quad \frac{\partial L}{\partial W} = g^{\top} x \qquad (O, N)(N, I) = (O, I) $$
#
# $$ \frac{\partial L}{\partial b_o} = \sum_n g_{n,o} \qquad \text{(the bias is added to every row)} $$
#
# The shapes are the mnemonic: each gradient has the shape of what it is the gradient of, and there is only one way
# to multiply $g$ with $W$ or $x$ that gives it.
#
# **Exercise 2.2.** Write `linear_backward(x, w, gy)` returning `(gx, gw, gb)` for $y = x W^{\top} + b$. The check
# compares them with tinyalex's autograd through `F.linear`, on shapes where $N$, $I$ and $O$ all differ, so a
# missing transpose shows.

# %%
def linear_backward(x, w, gy):
    """Gradients of y = x @ w.T + b: x (N, I), w (O, I), gy (N, O) -> (gx (N, I), gw (O, I), gb (O,))."""
    ### BEGIN SOLUTION
    return gy @ w, gy.T @ x, gy.sum(axis=0)
    ### END SOLUTION

# %%
def linear_reference(x, w, gy):
    tx, tw, tb = (tinyalex.Tensor(a, requires_grad=True) for a in (x, w, np.zeros(len(w))))
    F.linear(tx, tw, tb).backward(gy)
    return tx.grad, tw.grad, tb.grad

check(linear_backward, linear_reference,
      cases=lambda rng: dict(x=rng.standard_normal((3, 5)), w=rng.standard_normal((4, 5)), gy=rng.standard_normal((3, 4))))

# %% [markdown]
# **The softmax cross-entropy.** The network's last layer gives scores (logits) $z_{n,k}$ for each image $n$ and
# class $k$; the softmax turns them into probabilities and the loss is the mean negative log-probability of the
# true labels $t_n$:
#
# $$ p_{n,k} = \frac{e^{z_{n,k}}}{\sum_j e^{z_{n,j}}}, \qquad L = -\frac{1}{N} \sum_n \log p_{n, t_n}. $$
#
# Take the log first: $\log p_{n,t_n} = z_{n,t_n} - \log \sum_j e^{z_{n,j}}$. Its derivative by $z_{n,k}$ is
# $[k = t_n] - e^{z_{n,k}} / \sum_j e^{z_{n,j}} = [k = t_n] - p_{n,k}$, where $[k = t_n]$ is 1 for the true class
# and 0 otherwise (the one-hot label $y_{n,k}$). With the minus sign and the mean:
#
# $$ \frac{\partial L}{\partial z_{n,k}} = \frac{p_{n,k} - y_{n,k}}{N}. $$
#
# The famous "$p - y$": the gradient pushes every wrong class's score down by its probability and the true class's
# up by $1 - p$. It is also why the two are fused into one operation: the backward needs only $p$, and never divides
# by a probability that may have rounded to 0.
#
# **Exercise 2.3.** Write `softmax_cross_entropy_backward(z, labels)`: $\partial L/\partial z$ for logits `z` of
# shape $(N, K)$ and integer `labels` of shape $(N)$. Subtract each row's maximum before `np.exp`, as tinyalex does,
# so that large scores do not overflow (it changes no probability: the factor cancels). The check compares with
# tinyalex's autograd, on scores that include a row near 1000, where `np.exp` alone gives infinity.

# %%
def softmax_cross_entropy_backward(z, labels):
    """dL/dz of the mean softmax cross-entropy: z (N, K) logits, labels (N,) class indices."""
    ### BEGIN SOLUTION
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    p[np.arange(len(z)), labels] -= 1
    return p / len(z)
    ### END SOLUTION

# %%
def loss_reference(z, labels):
    tz = tinyalex.Tensor(z, requires_grad=True)
    F.softmax_cross_entropy(tz, labels).backward()
    return tz.grad

check(softmax_cross_entropy_backward, loss_reference,
      cases=lambda rng: dict(z=10 * rng.standard_normal((6, 5)) + 1000 * np.eye(6, 1), labels=rng.integers(0, 5, size=6)))

# %% [markdown]
# ## 5. Checking the engine against calculus
#
# Our engine works on whole arrays, elementwise, so evaluating $f(x)=\exp(x^2)$ on a grid of points gives every
# derivative at once; the plot compares them with $2x e^{x^2}$.

# %%
xs = np.linspace(-1.2, 1.2, 41)
x = Variable(xs)
y = Exp()(Square()(x))
y.backward()                     # upstream gradient 1 at every point: d(sum y)/dx_i = f'(x_i)
fig, ax = plt.subplots()
ax.plot(xs, y.data, label="f(x) = exp(x²)")
ax.plot(xs, x.grad, "o", ms=4, label="autograd f'(x)")
ax.plot(xs, 2 * xs * np.exp(xs**2), "k--", lw=1, label="2x exp(x²)")
ax.legend()
ax.grid(alpha=0.3)
plt.show()
print("largest difference:", np.abs(x.grad - 2 * xs * np.exp(xs**2)).max())

# %% [markdown]
# ## 6. The same in tinyalex
#
# `tinyalex.Tensor` is our `Variable` with what a real framework needs on top: gradients only for tensors that ask
# for them (`requires_grad=True`), NumPy or CuPy data, broadcasting, and a graph that is freed as the backward pass
# walks it. It orders the backward pass by generation, as our engine does, with a priority queue so that it never
# sorts the whole graph. Operators build the graph:

# %%
x = tinyalex.Tensor(np.array([1.5, 2.0])).to(DEVICE)
x.requires_grad = True
a = x**2
y = (a * a + a).sum()
y.backward()
print("y =", y.item(), " dy/dx =", x.grad, " exact (2a+1)*2x =", (2 * np.array([1.5, 2.0]) ** 2 + 1) * 2 * np.array([1.5, 2.0]))

# %% [markdown]
# Expected: `y = 27.3125  dy/dx = [16.5 36. ]  exact (2a+1)*2x = [16.5 36. ]`.
#
# ## 7. Your own operation in tinyalex
#
# A tinyalex `Function` works on raw arrays: `forward(*arrays)` returns the output array and keeps what backward
# needs as attributes; `backward(*grads)` returns one gradient per input. It must keep it itself: unlike the tiny
# engine above, tinyalex's graph holds each input that an op made by a small `Node` (its creator, shape and
# dtype), not by its array, so an activation that no backward needs (conv1's output before ReLU) is freed as
# soon as your code lets go of it. Here is the *softplus*
# $\log(1+e^x)$, whose derivative is the logistic sigmoid $\sigma(x) = 1/(1+e^{-x})$. Writing it with
# `get_array_module` makes it run on the GPU too.

# %%
class Softplus(tinyalex.Function):
    def forward(self, x):
        xp = tinyalex.get_array_module(x)
        self.x = x
        # log(1 + e^x), written so that large x does not overflow
        return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, gy):
        xp = tinyalex.get_array_module(gy)
        return gy / (1 + xp.exp(-self.x))

x = tinyalex.Tensor(np.array([-2.0, 0.0, 3.0]), requires_grad=True)
y = Softplus()(x)
y.sum().backward()
print("softplus:", np.round(y.numpy(), 6))
print("gradient:", np.round(x.grad, 6), " sigmoid:", np.round(1 / (1 + np.exp(-np.array([-2.0, 0.0, 3.0]))), 6))

# %% [markdown]
# Lesson 3 shows how to *prove* such a backward right (or catch it wrong) with a gradient check.
#
# ## Questions
#
# 1. Add `Sin` to the tiny engine and check $\frac{d}{dx}\sin(x^2) = 2x\cos(x^2)$ at $x = 0.7$.
# 2. Use the tiny engine to compute the gradient of $y = (x \cdot w) + w$ with respect to both $x = 3$ and
#    $w = -2$. What should they be?
# 3. In tinyalex, compute the gradient of `((x * x).sum()).exp()` at `x = [0.1, 0.2]` and compare it with
#    $2x\,e^{\sum x^2}$.
#
# The answers are in the collapsed cell below.

# %% [solution]
class Sin(Function):
    def forward(self, x):
        return np.sin(x)

    def backward(self, gy):
        (x,) = self.inputs
        return (np.cos(x.data) * gy,)

x = Variable(0.7)
Sin()(Square()(x)).backward()
print("1.", float(x.grad), "exact:", 2 * 0.7 * np.cos(0.49))

x, w = Variable(3.0), Variable(-2.0)
Add()(Mul()(x, w), w).backward()
print("2. dy/dx =", float(x.grad), "(= w), dy/dw =", float(w.grad), "(= x + 1)")

x = tinyalex.Tensor(np.array([0.1, 0.2]), requires_grad=True)
(x * x).sum().exp().backward()
print("3.", x.grad, "exact:", 2 * np.array([0.1, 0.2]) * np.exp(0.05))

# %% [markdown]
# ## The numbers quoted in this lesson

# %%
facts.show()
