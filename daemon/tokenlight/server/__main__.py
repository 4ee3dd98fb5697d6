"""``python -m tokenlight.server [--tcp HOST:PORT | --ws HOST:PORT] ...``: same as ``tokenlight serve``."""

import sys

from tokenlight.server import main

sys.exit(main(sys.argv[1:]))
