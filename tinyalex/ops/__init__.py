"""The ops of AlexNet, one file per idea; each is a Function with forward and backward side by side.

Beside them sit what the ops run on: im2col (convolution as a matrix product), winograd (conv3-5's
fast algorithm), cuda (launching the GPU kernels), threads (the CPU's op threads), workspace
(reused scratch buffers) and validate (input checks).
"""
