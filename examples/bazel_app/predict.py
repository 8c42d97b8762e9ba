"""The example's model code: plain tensorflow_hub calls with canonical handles.

Under Bazel, hubvendor (installed in the interpreter, with its start-up hook) resolves these handles
to the copies hub_models() put in the runfiles: no network, no TFHUB_CACHE_DIR.
"""

import tensorflow as tf
import tensorflow_hub as hub

HALF_PLUS_TWO = "https://tfhub.dev/test/half_plus_two/1"
KERAS_DENSE = "https://tfhub.dev/test/keras_dense/1"


def half_plus_two(values):
    """0.5 * x + 2 for each value, computed by the SavedModel behind HALF_PLUS_TWO."""
    model = hub.load(HALF_PLUS_TWO)
    return model(tf.constant(values, tf.float32)).numpy().tolist()


def dense(rows):
    """The Keras Dense(2) layer behind KERAS_DENSE applied to rows of 3 features."""
    layer = hub.KerasLayer(KERAS_DENSE)
    return layer(tf.constant(rows, tf.float32)).numpy().tolist()
