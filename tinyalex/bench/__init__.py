"""`tinyalex bench`: AlexNet's training step, inference and each layer, each framework in its own process.

The parent (suite.py) runs the same-network check (same_network.py) in a child, then for every
configuration (configs.py) alternates one child per framework over several rounds (children.py);
each child (child.py) builds its net (networks.py, torch_layers.py), times its jobs after warm-up
(runs.py, timing.py) and measures its peak memory (peak.py) and setting (environment.py).
aggregate.py turns the children's step times into medians and ratios, report.py prints the tables.
"""
