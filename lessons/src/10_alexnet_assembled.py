# %% [markdown]
# # Lesson 10 — AlexNet assembled: shapes, parameters, multiply-adds and neurons
#
# Lessons 4 to 8 built the pieces. Section 3.5 and Figure 2 of the paper put them together: five convolutional
# layers, three fully connected ones, ReLU after each, response normalisation after conv1 and conv2, overlapping max
# pooling after conv1, conv2 and conv5, dropout in fc6 and fc7, and a 1000-way softmax. "The neural network has 60
# million parameters and 650,000 neurons."
#
# **You will learn**
# - the network layer by layer: the shape of every output, and where the sizes come from;
# - how to count parameters and multiply-adds by hand, and check them against `tinyalex.models.summary`;
# - where the parameters are (fully connected layers) and where the arithmetic is (convolutions);
# - how the paper's "60 million parameters and 650,000 neurons" compare with an honest count.
#
# You write the parameter counts and the multiply-adds of a layer (graded exercises 10.1 and 10.2).

# %%
DEVICE = "cpu"  # "gpu" runs the forward pass on CuPy

import time

import matplotlib.pyplot as plt
import numpy as np

import facts
import tinyalex
from grading import check
from tinyalex import nn
from tinyalex.models import AlexNet, alexnet_small, layer_table, summary

plt.rcParams.update({"figure.dpi": 72, "figure.figsize": (6, 3.5)})

# %% [markdown]
# ## 1. The network
#
# `tinyalex.models.AlexNet()` builds the paper's network with its initialisation (weights from
# $\mathcal{N}(0, 0.01^2)$, biases 1 in conv2, conv4, conv5, fc6, fc7 and 0 elsewhere), two towers (`groups=2` in
# conv2, conv4, conv5: lesson 13) and 224-pixel inputs with 2 pixels of padding in conv1 (lesson 4: the paper's
# sizes only work out for 227 pixels, or for 224 padded). `summary` runs one image through it and lists every layer:

# %%
model = AlexNet().to(DEVICE)
print(summary(model))

# %% [markdown]
# ## 2. Shapes
#
# Each convolution or pooling maps a side of $H$ pixels to $\lfloor (H + 2P - K)/S \rfloor + 1$:
#
# | layer | kernel / stride / padding | side | channels |
# |---|---|---|---|
# | input | | 224 | 3 |
# | conv1 | 11 / 4 / 2 | $\lfloor(224 + 4 - 11)/4\rfloor + 1 = 55$ | 96 |
# | pool1 | 3 / 2 / 0 | $\lfloor(55 - 3)/2\rfloor + 1 = 27$ | 96 |
# | conv2 | 5 / 1 / 2 | 27 | 256 |
# | pool2 | 3 / 2 / 0 | 13 | 256 |
# | conv3, conv4 | 3 / 1 / 1 | 13 | 384 |
# | conv5 | 3 / 1 / 1 | 13 | 256 |
# | pool5 | 3 / 2 / 0 | 6 | 256 |
# | fc6, fc7, fc8 | | | 4096, 4096, 1000 |
#
# and fc6 reads the $256 \cdot 6 \cdot 6 = 9216$ values of pool5, flattened.
#
# ## 3. Parameters, by hand
#
# A convolution with $C_\text{in}$ input channels in $G$ groups, $C_\text{out}$ filters of $K \times K$, has
# $C_\text{out} (K^2 C_\text{in} / G + 1)$ parameters (the $+1$ is the bias); a fully connected layer
# $C_\text{out}(C_\text{in} + 1)$.
#
# **Exercise 10.1.** Write `conv_parameters(c_in, c_out, k, groups)` for a convolution with $k \times k$ kernels
# and biases, and `fc_parameters(c_in, c_out)` for a fully connected layer with biases. The checks compare with the
# `num_parameters()` of tinyalex's layers, on random sizes.

# %%
def conv_parameters(c_in, c_out, k, groups):
    """Weights and biases of a k x k convolution from c_in to c_out channels in `groups` groups."""
    ### BEGIN SOLUTION
    return c_out * (k * k * c_in // groups + 1)
    ### END SOLUTION


def fc_parameters(c_in, c_out):
    """Weights and biases of a fully connected layer."""
    ### BEGIN SOLUTION
    return c_out * (c_in + 1)
    ### END SOLUTION

# %%
def conv_layer_case(rng):
    groups = int(rng.choice([2, 3, 4]))
    return dict(c_in=groups * int(rng.integers(1, 9)), c_out=groups * int(rng.integers(1, 9)), k=int(rng.choice([3, 5, 7, 11])),
                groups=groups)

check(conv_parameters, lambda c_in, c_out, k, groups: nn.Conv2d(c_in, c_out, k, groups=groups).num_parameters(),
      cases=conv_layer_case)
check(fc_parameters, lambda c_in, c_out: nn.Linear(c_in, c_out).num_parameters(),
      cases=lambda rng: dict(c_in=int(rng.integers(1, 300)), c_out=int(rng.integers(1, 300))))

# %% [markdown]
# AlexNet's eight layers, by hand:

# %%
by_hand = {
    "conv1": 96 * (11 * 11 * 3 + 1),
    "conv2": 256 * (5 * 5 * 96 // 2 + 1),
    "conv3": 384 * (3 * 3 * 256 + 1),
    "conv4": 384 * (3 * 3 * 384 // 2 + 1),
    "conv5": 256 * (3 * 3 * 384 // 2 + 1),
    "fc6": 4096 * (9216 + 1),
    "fc7": 4096 * (4096 + 1),
    "fc8": 1000 * (4096 + 1),
}
rows = {r.name: r for r in layer_table(model)}
for name, count in by_hand.items():
    assert count == rows[name].parameters, name
print(f"by hand: {sum(by_hand.values()):,} parameters, as summary() says")
print(f"in the fully connected layers: {sum(by_hand[k] for k in ('fc6', 'fc7', 'fc8')) / sum(by_hand.values()):.1%}")

# %% [markdown]
# Expected: `by hand: 60,965,224 parameters` and `in the fully connected layers: 96.2%`. The paper's "60 million" is
# this number; the one-tower network (`AlexNet(towers=1)`, every convolution reading all channels) has 62,378,344.
#
# ## 4. Multiply-adds
#
# Every output value of a convolution costs $K^2 C_\text{in} / G$ multiply-adds, so a layer costs
# $C_\text{out} \cdot H_\text{out} W_\text{out} \cdot K^2 C_\text{in} / G$; a fully connected layer
# $C_\text{in} C_\text{out}$.
#
# **Exercise 10.2.** Write `conv_mult_adds(c_in, c_out, k, stride, pad, groups, side)`: the multiply-adds of one
# image through a $k \times k$ convolution with that stride and padding on a `side` x `side` input (you need the
# output size of lesson 4 first). The check compares with `layer_table`, tinyalex's per-layer count.

# %%
def conv_mult_adds(c_in, c_out, k, stride, pad, groups, side):
    """Multiply-adds per image of a k x k convolution on a side x side input."""
    ### BEGIN SOLUTION
    out = (side + 2 * pad - k) // stride + 1
    return c_out * out * out * k * k * c_in // groups
    ### END SOLUTION

# %%
def mult_adds_reference(c_in, c_out, k, stride, pad, groups, side):
    layers = nn.Sequential(nn.Conv2d(3, c_in, 1), nn.Conv2d(c_in, c_out, k, stride, pad, groups))
    return layer_table(layers, side)[1].mult_adds

def mult_adds_case(rng):
    """A layer whose stride does not divide side + 2 pad - k: rounding the output size down or up differs."""
    stride = int(rng.integers(2, 5))
    case = dict(conv_layer_case(rng), stride=stride, pad=stride * int(rng.integers(1, 3)))
    sides = [side for side in range(12, 30) if (side + 2 * case["pad"] - case["k"]) % stride]
    return dict(case, side=int(rng.choice(sides)))

check(conv_mult_adds, mult_adds_reference, cases=mult_adds_case)

# %% [markdown]
# The parameters and the arithmetic live in different places:

# %%
names = list(by_hand)
params = np.array([rows[n].parameters for n in names]) / 1e6
macs = np.array([rows[n].mult_adds for n in names]) / 1e6
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
axes[0].bar(names, params, color="C0")
axes[0].set(title=f"parameters: {params.sum():.1f} million", ylabel="millions")
axes[1].bar(names, macs, color="C1")
axes[1].set(title=f"multiply-adds per image: {macs.sum():.0f} million", ylabel="millions")
for ax in axes:
    ax.tick_params(axis="x", rotation=45)
plt.show()
conv_share = sum(rows[n].mult_adds for n in names[:5]) / sum(rows[n].mult_adds for n in names)
print(f"convolutions: {conv_share:.1%} of the multiply-adds, {params[:5].sum() / params.sum():.1%} of the parameters")

# %% [markdown]
# Expected: `convolutions: 91.9% of the multiply-adds, 3.8% of the parameters`. That split shaped everything after:
# dropout is needed where the parameters are (fc6, fc7), speed is won where the arithmetic is (the convolutions), and
# a training step (forward, then a backward that costs about twice the forward) is about
# $3 \times 724$ million multiply-adds per image.
#
# ## 5. Neurons: the paper's 650,000
#
# Counting a neuron for every output value of the five convolutional and three fully connected layers:

# %%
neurons = {name: int(np.prod(rows[name].output_shape)) for name in names}
for name, count in neurons.items():
    print(f"{name:6s} {str(rows[name].output_shape):16s} {count:9,}")
print(f"total  {'':16s} {sum(neurons.values()):9,}")

# %% [markdown]
# Expected total: **659,272**, "650,000" rounded. The paper's own list (Section 3.5) is
# 253,440–186,624–64,896–64,896–43,264–4096–4096–1000, which sums to 622,312. Every entry matches ours except the
# first: conv1 has $96 \times 55 \times 55 = 290{,}400$ outputs, and 253,440 matches no feature map of the network
# (not $48 \times 55 \times 55$ for one GPU either, nor $96 \times 54 \times 54$ for an unpadded 224 input). It is a
# known slip in the paper. Either way, about 650,000 neurons.
#
# ## 6. Running it
#
# A forward pass of one image through the full network on the CPU, and the same for the CPU-sized `alexnet_small`
# (a quarter of the channels, 64-pixel inputs) that the next lessons train:

# %%
for name, net, side in [("AlexNet", model, 224), ("alexnet_small", alexnet_small().to(DEVICE), 64)]:
    net.eval()
    x = tinyalex.Tensor(np.random.default_rng(0).standard_normal((1, 3, side, side)).astype(np.float32)).to(DEVICE)
    with tinyalex.no_grad():
        net(x)
        start = time.perf_counter()
        scores = net(x)
        seconds = time.perf_counter() - start
    macs_total = sum(r.mult_adds for r in layer_table(net))
    print(f"{name:14s} {str(scores.shape):10s} {macs_total / 1e6:6.0f} M multiply-adds, {1e3 * seconds:6.1f} ms")

# %% [markdown]
# ## Questions
#
# 1. Without padding, with 227-pixel inputs as in Caffe's reference model, do any shapes, parameter counts or
#    multiply-adds change? Check with `AlexNet(input_size=227, conv1_padding=0)`.
# 2. How many bytes do the activations of one image take in float32 (every layer's output in the table, which is
#    what the backward pass keeps, roughly)? And for a batch of 128?
# 3. How many multiply-adds would fc6 cost if it were a convolution with $6 \times 6$ kernels on pool5's output?
#    Why is that the same as the fully connected layer?
#
# The answers are in the collapsed cell below.

# %% [solution]
other = AlexNet(input_size=227, conv1_padding=0)
same = [(a.output_shape, a.parameters, a.mult_adds) == (b.output_shape, b.parameters, b.mult_adds)
        for a, b in zip(layer_table(other), layer_table(model))]
print("1. everything identical:", all(same))

floats = sum(int(np.prod(r.output_shape)) for r in layer_table(model))
print(f"2. {floats:,} floats = {floats * 4 / 2**20:.1f} MiB per image, {floats * 4 * 128 / 2**30:.2f} GiB for 128")

print(f"3. 4096 filters x 1 output x (6 x 6 x 256) = {4096 * 6 * 6 * 256:,}: a kernel as large as its input has one"
      " output position, and then a convolution is a matrix product, the fully connected layer")

# %% [markdown]
# ## The numbers quoted in this lesson

# %%
facts.show()
