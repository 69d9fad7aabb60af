"""SAM Editor: spatially-adaptive multilayer GAN inversion and editing."""

__version__ = "0.1.0"
