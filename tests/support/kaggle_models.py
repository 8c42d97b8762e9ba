"""Models for the Kaggle tests: a tiny Keras Hub preset built with keras_hub, and a tiny TF SavedModel.

The preset is built in a subprocess so that Keras 3 is never imported into the pytest process
(other tests use tf-keras).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support.models import build_tf2_module

PRESET_SCRIPT = """
import sys
import keras_hub
backbone = keras_hub.models.GPT2Backbone(vocabulary_size=16, num_layers=1, num_heads=1, hidden_dim=4,
                                         intermediate_dim=8, max_sequence_length=8)
backbone.save_to_preset(sys.argv[1])
"""
GPT2_PARAMS = 276  # GPT2Backbone.count_params() of the preset above


def build_gpt2_preset(path: Path) -> Path:
    """A GPT2Backbone preset (config.json, metadata.json, model.weights.h5) saved by keras_hub."""
    env = dict(os.environ, KERAS_BACKEND="tensorflow", HUBVENDOR_AUTOLOAD="0", TF_CPP_MIN_LOG_LEVEL="3")
    subprocess.run([sys.executable, "-c", PRESET_SCRIPT, str(path)], env=env, check=True, capture_output=True)
    return path


def build_saved_model(path: Path) -> Path:
    """A TF2 SavedModel computing ``0.5 * x + 2``."""
    return build_tf2_module(path)
