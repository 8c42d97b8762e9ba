"""Real SavedModels built with TensorFlow for tests, plus archive helpers (a pytest plugin).

Models are built once per session into a shared directory laid out as a TF Hub server root:
``<root>/<publisher>/<model>/<version>/`` holds a SavedModel directory.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

HALF_PLUS_TWO = "test/half_plus_two/1"


def build_tf2_module(path: str | os.PathLike, a: float = 0.5, b: float = 2.0) -> Path:
    """A TF2 SavedModel computing ``a * x + b`` with two variables and a serving signature."""
    import tensorflow as tf

    class Affine(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = tf.Variable(a, dtype=tf.float32)
            self.b = tf.Variable(b, dtype=tf.float32)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def __call__(self, x):
            return self.a * x + self.b

    module = Affine()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.__call__})
    return Path(path)


def tar_gz_bytes(directory: str | os.PathLike) -> bytes:
    """A tar.gz of ``directory``'s contents shaped like tfhub.dev archives (``./`` members)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(str(directory), arcname=".")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def model_root(tmp_path_factory) -> Path:
    """A server root with the session's models (built once; reuse it read-only)."""
    root = tmp_path_factory.mktemp("models")
    build_tf2_module(root / HALF_PLUS_TWO)
    return root
