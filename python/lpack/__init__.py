"""The lpack command, shipped as a binary in this wheel (see ``python -m lpack --help``).

lpack has no Python API: this package only finds the binary that pip installed beside it.
"""

import os
import sys
import sysconfig


def find_lpack_bin() -> str:
    """Return the path of the lpack binary installed with this package."""
    exe = "lpack" + (sysconfig.get_config_var("EXE") or "")
    candidates = [os.path.join(sysconfig.get_path("scripts"), exe)]
    # pip install --user puts scripts in the user scheme; --target or --prefix beside the package.
    if sys.version_info >= (3, 10):
        user_scheme = sysconfig.get_preferred_scheme("user")
    elif os.name == "nt":
        user_scheme = "nt_user"
    else:
        user_scheme = "posix_user"
    candidates.append(os.path.join(sysconfig.get_path("scripts", scheme=user_scheme), exe))
    pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    candidates.append(os.path.join(pkg_root, "bin", exe))
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        "the lpack binary was not found beside this package (looked in: "
        + ", ".join(candidates)
        + "); reinstall it with `pip install --force-reinstall lpack-lambda`"
    )
