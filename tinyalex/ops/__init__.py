"""The ops of AlexNet, one file per idea; each is a Function with forward and backward side by side."""
