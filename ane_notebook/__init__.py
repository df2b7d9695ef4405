"""ane_notebook: see where a Core ML model runs (Neural Engine, GPU, CPU) and why."""

__version__ = "0.1.0"
