"""``python -m modelc ...``: the modelc command line (``modelc --help``)."""

import sys

from modelc import main

if __name__ == "__main__":
    sys.exit(main(["modelc", *sys.argv[1:]]))
