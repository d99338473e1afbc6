"""`tinyalex bench`: time AlexNet's training step, inference and each layer, against PyTorch when asked.

timing.py measures (medians after warm-up, frameworks alternated), networks.py builds the
same network in tinyalex and, when it is installed, in PyTorch, runs.py times them,
peak.py measures peak memory in a child process, report.py prints the tables.
"""
