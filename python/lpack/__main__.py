"""`python -m lpack ARGS`: exec the lpack binary with ARGS (same exit code, same output)."""

import os
import subprocess
import sys

from lpack import find_lpack_bin


def _run() -> None:
    lpack = find_lpack_bin()
    if sys.platform == "win32":
        sys.exit(subprocess.call([lpack, *sys.argv[1:]]))
    os.execvp(lpack, [lpack, *sys.argv[1:]])


if __name__ == "__main__":
    _run()
