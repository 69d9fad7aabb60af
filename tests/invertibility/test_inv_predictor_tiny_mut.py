"""TinyInvertibilityNet, save/load, preprocess and predict pinned from a whole-module mutation run of
invertibility/predictor.py (issue 36)."""
