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
# - how to write your own operation for tinyalex: a `Function` with `forward` and `backward`.

# %%
DEVICE = "cpu"  # the engine is the same on "gpu"; this lesson's arrays are tiny

import matplotlib.pyplot as plt
import numpy as np

import tinyalex

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

# %%
class Variable:
    def __init__(self, data):
        self.data = np.asarray(data, dtype=np.float64)
        self.grad = None
        self.creator = None

    def backward(self):
        self.grad = np.ones_like(self.data)
        for f in topological_order(self):          # outputs before inputs
            grads = f.backward(f.output.grad)
            for x, g in zip(f.inputs, grads):
                x.grad = g if x.grad is None else x.grad + g   # a variable used twice gets both


class Function:
    def __call__(self, *inputs):
        self.inputs = inputs
        self.output = Variable(self.forward(*[x.data for x in inputs]))
        self.output.creator = self
        return self.output


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

# %% [markdown]
# The backward pass may only call a function's `backward` once the gradient of its output is *complete*, i.e. once
# every function that used that output has sent its share back. Ordering the functions so that each one comes
# after all the functions that consume its output is a **topological sort** of the graph: a depth-first search
# that lists a function after everything downstream of it, reversed.

# %%
def topological_order(y):
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

x = Variable(1.5)
y = Exp()(Square()(x))
y.backward()
print(f"y = {float(y.data):.6f}, dy/dx = {float(x.grad):.6f}, exact 2x exp(x^2) = {2 * 1.5 * np.exp(1.5**2):.6f}")

# %% [markdown]
# Expected: `y = 9.487736, dy/dx = 28.463208, exact 2x exp(x^2) = 28.463208`.
#
# ## 3. Why the order matters
#
# In $y = a\cdot a + a$ with $a = x^2$, the variable $a$ is used three times. Its gradient is
# $\partial y/\partial a = 2a + 1$, and only after all three contributions have arrived may `Square` pass
# $\partial y/\partial x = (2a+1)\cdot 2x$ on. A naive recursive backward that propagates as soon as *one*
# contribution arrives would run `Square.backward` too early, with a partial gradient, and again later.

# %%
def naive_backward(y):
    """Depth-first, propagating each contribution immediately: wrong as soon as a variable is reused."""
    y.grad = np.ones_like(y.data)

    def push(v, g):
        if v.creator is None:
            v.grad = g if v.grad is None else v.grad + g
            return
        for x, gx in zip(v.creator.inputs, v.creator.backward(g)):
            push(x, gx)

    push(y, y.grad)

def graph(x):
    a = Square()(x)
    return Add()(Mul()(a, a), a)

x = Variable(2.0)
graph(x).backward()
a = 2.0**2
print("topological order:", float(x.grad))
print("exact (2a+1)*2x:  ", (2 * a + 1) * 2 * 2.0)

# %% [markdown]
# Here the naive version still gets the right number, because `Square.backward` is linear in its incoming gradient
# and the contributions are simply added at the leaf. It is *wasteful* (Square's backward runs three times, and
# in a deep network the repeated work grows exponentially with the number of reused tensors). It becomes *wrong*
# as soon as a backward is not linear in `gy` or has side effects, such as freeing memory after its single
# expected call, which every real engine does. Counting the calls shows the difference:

# %%
calls = {"n": 0}
class CountingSquare(Square):
    def backward(self, gy):
        calls["n"] += 1
        return super().backward(gy)

def counted_graph(x):
    a = CountingSquare()(x)
    return Add()(Mul()(a, a), a)

for name, run in [("topological", lambda y: y.backward()), ("naive", naive_backward)]:
    calls["n"] = 0
    x = Variable(2.0)
    run(counted_graph(x))
    print(f"{name:12s} dy/dx = {float(x.grad):5.1f}   Square.backward called {calls['n']} time(s)")

# %% [markdown]
# ## 4. Checking the engine against calculus
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
# ## 5. The same in tinyalex
#
# `tinyalex.Tensor` is our `Variable` with what a real framework needs on top: gradients only for tensors that ask
# for them (`requires_grad=True`), NumPy or CuPy data, broadcasting, and a graph that is freed as the backward pass
# walks it. It orders the backward pass by *generation* (a function's generation is one more than that of its
# newest input), which is a topological order that needs no recursion. Operators build the graph:

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
# ## 6. Your own operation in tinyalex
#
# A tinyalex `Function` works on raw arrays: `forward(*arrays)` returns the output array and keeps what backward
# needs as attributes; `backward(*grads)` returns one gradient per input. Here is the *softplus*
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
# ## Exercises
#
# 1. Add `Sin` to the tiny engine and check $\frac{d}{dx}\sin(x^2) = 2x\cos(x^2)$ at $x = 0.7$.
# 2. Use the tiny engine to compute the gradient of $y = (x \cdot w) + w$ with respect to both $x = 3$ and
#    $w = -2$. What should they be?
# 3. In tinyalex, compute the gradient of `((x * x).sum()).exp()` at `x = [0.1, 0.2]` and compare it with
#    $2x\,e^{\sum x^2}$.

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
