"""`python -m sslhsic_tf.zoo ...` = `sslhsic-zoo ...`."""

import sys

from sslhsic_tf.zoo.cli import main

sys.exit(main())
