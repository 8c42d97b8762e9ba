"""A small application using TF Hub models by their canonical handles, exactly as with plain tensorflow_hub."""

from __future__ import annotations

HALF_PLUS_TWO = "https://tfhub.dev/test/half_plus_two/1"
KERAS_DENSE = "https://tfhub.dev/test/keras_dense/1"


def predict(values: list[float], rows: list[list[float]]) -> dict[str, list]:
    """Run both models: ``0.5 * x + 2`` on ``values`` and a Dense(2) layer on ``rows`` (3 features each)."""
    import tensorflow as tf
    import tensorflow_hub as hub

    half_plus_two = hub.load(HALF_PLUS_TWO)
    dense = hub.KerasLayer(KERAS_DENSE)
    return {
        "half_plus_two": half_plus_two(tf.constant(values, tf.float32)).numpy().tolist(),
        "keras_dense": dense(tf.constant(rows, tf.float32)).numpy().tolist(),
    }
