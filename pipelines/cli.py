"""``python -m kfp_mlops.pipelines.cli``: kept for the Makefile; the CLI is :mod:`.tooling.cli`."""

import sys

from kfp_mlops.pipelines.tooling.cli import main

if __name__ == "__main__":
    sys.exit(main())
