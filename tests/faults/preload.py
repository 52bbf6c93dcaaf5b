"""Imported once by the server process that forks the scripts' processes (tests/faults/scripts.py):
what every script imports, so that a forked script starts in a second instead of ten."""

import tensorflow  # noqa: F401
import keras  # noqa: F401

from sslhsic_tf import configs, data, evaluation, methods, models, serving  # noqa: F401
from sslhsic_tf.analysis import report  # noqa: F401
from sslhsic_tf.training import cli, loop  # noqa: F401
