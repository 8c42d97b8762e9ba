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
TF1_MODULE = "test/tf1_module/1"
KERAS_DENSE = "test/keras_dense/1"
# KERAS_DENSE maps [x0, x1, x2] to [x0 + 2*x1 + 3*x2 + 0.5, -x0 + x2 - 0.5]; TF1_MODULE maps x to 3x + 1.
KERAS_DENSE_KERNEL = [[1.0, -1.0], [2.0, 0.0], [3.0, 1.0]]
KERAS_DENSE_BIAS = [0.5, -0.5]
# A serialized tensorflow_hub ModuleDef proto: field 1 (format) = FORMAT_V3 (3).
MODULE_DEF_V3 = b"\x08\x03"


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


def build_text_embedding(path: str | os.PathLike, dimensions: int = 50, buckets: int = 1000) -> Path:
    """A TF2 SavedModel shaped like tfhub.dev's nnlm text embeddings: strings ``[None]`` -> ``[None, dimensions]``.

    Tokens (split on whitespace) are hashed into ``buckets`` rows of a fixed table and averaged, so
    ``hub.load(h)(["cat is on the mat"])`` and ``hub.KerasLayer(h, input_shape=[], dtype=tf.string)`` work.
    """
    import numpy as np
    import tensorflow as tf

    class Embedding(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            table = np.random.default_rng(50).standard_normal((buckets, dimensions)).astype("float32")
            self.embeddings = tf.Variable(table)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, sentences):
            ids = tf.strings.to_hash_bucket_fast(tf.strings.split(sentences), buckets)
            vectors = tf.ragged.map_flat_values(tf.gather, self.embeddings, ids)
            return tf.math.divide_no_nan(tf.reduce_sum(vectors, axis=1),
                                         tf.cast(tf.expand_dims(ids.row_lengths(), 1), tf.float32))

    module = Embedding()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.__call__})
    return Path(path)


def build_tf1_hub_module(path: str | os.PathLike, a: float = 3.0, b: float = 1.0) -> Path:
    """A TF1 Hub-format module (``tfhub_module.pb`` + a SavedModel with empty tags) computing ``a * x + b``.

    Laid out as ``hub.Module.export`` wrote them: one MetaGraph tagged ``[]`` whose ``default`` signature
    maps input ``default`` to output ``default``.
    """
    import tensorflow as tf

    v1 = tf.compat.v1
    with tf.Graph().as_default() as graph, v1.Session(graph=graph) as session:
        x = v1.placeholder(tf.float32, shape=[None], name="x")
        weight = v1.get_variable("weight", initializer=tf.constant(a))
        y = weight * x + b
        session.run(v1.global_variables_initializer())
        signature = v1.saved_model.signature_def_utils.predict_signature_def({"default": x}, {"default": y})
        builder = v1.saved_model.Builder(str(path))
        builder.add_meta_graph_and_variables(session, [], signature_def_map={"default": signature})
        builder.save()
    Path(path, "tfhub_module.pb").write_bytes(MODULE_DEF_V3)
    return Path(path)


def build_keras_dense(path: str | os.PathLike) -> Path:
    """A tf_keras ``Dense(2)`` model on 3 inputs (``KERAS_DENSE_KERNEL``/``_BIAS``) for ``hub.KerasLayer``."""
    import numpy as np
    import tensorflow as tf
    import tf_keras

    model = tf_keras.Sequential([tf_keras.layers.Dense(2, input_shape=(3,))])
    model.layers[0].set_weights([np.array(KERAS_DENSE_KERNEL, "float32"), np.array(KERAS_DENSE_BIAS, "float32")])
    tf.saved_model.save(model, str(path))
    return Path(path)


def keras_dense_expected(rows: list[list[float]]) -> list[list[float]]:
    """What ``KERAS_DENSE`` computes for ``rows`` (plain Python, no TensorFlow)."""
    return [
        [sum(x * k[j] for x, k in zip(row, KERAS_DENSE_KERNEL)) + KERAS_DENSE_BIAS[j] for j in range(2)]
        for row in rows
    ]


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
    build_tf1_hub_module(root / TF1_MODULE)
    build_keras_dense(root / KERAS_DENSE)
    return root
