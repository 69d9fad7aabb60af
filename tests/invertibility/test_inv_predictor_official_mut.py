"""The official SAM predictor's layout (DeepLabV3+ on ResNet-101, output stride 16, and its head) pinned
layer by layer from a whole-module mutation run of invertibility/predictor.py (issue 36)."""
