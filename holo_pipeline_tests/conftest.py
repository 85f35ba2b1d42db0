"""Test-wide set-up: import the package first, so that its TensorFlow settings (oneDNN kernels,
see ``holo_pipeline/__init__.py``) hold in test modules that import TensorFlow before it."""

import holo_pipeline  # noqa: F401
