"""TensorFlow's oneDNN kernels: on after importing the package, whatever the CPU, unless the user
said otherwise (see ``holo_pipeline/__init__.py``). Checked in fresh processes, since TensorFlow
reads the setting once, when it is imported."""

import os
import subprocess
import sys

import pytest

_PROBE = """
import holo_pipeline
import tensorflow as tf
from tensorflow.python.util import _pywrap_util_port
x = tf.random.normal((1, 32, 32, 8))
k = tf.random.normal((3, 3, 8, 8))
y = tf.function(lambda a: tf.nn.conv2d(a, k, 1, "SAME"))(x)
print(_pywrap_util_port.IsMklEnabled(), float(tf.reduce_sum(y)) == float(tf.reduce_sum(y)))
"""


@pytest.mark.parametrize(("setting", "expected"), [(None, "True"), ("1", "True"), ("0", "False")])
def test_onednn_kernels_are_on_unless_turned_off(setting, expected):
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if setting is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = setting
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env, check=True
    )
    enabled, ran = out.stdout.split()
    assert ran == "True"
    assert enabled == expected, f"TF_ENABLE_ONEDNN_OPTS={setting}: oneDNN enabled {enabled}"
