"""Write the broken wheels of the hostile-input tests into a directory (argv[1]).

Python's zipfile is used on purpose: it is an independent writer, it streams (the bomb's 2 GiB
entry is never in memory) and it happily writes what lpack must refuse (duplicate names).
"""

import base64
import hashlib
import sys
import warnings
import zipfile

OUT = sys.argv[1]
warnings.simplefilter("ignore")  # zipfile warns about the duplicate name we write on purpose


def digest(h):
    return "sha256=" + base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode()


def meta(name, version):
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()


WHEEL = b"Wheel-Version: 1.0\nGenerator: lpack-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def wheel(name, files, version="1.0", di=None, record=True, tamper=None, skip_record=()):
    """files: list of (path, bytes); dist-info METADATA/WHEEL are the caller's to include."""
    fn = f"{OUT}/{name}-{version}-py3-none-any.whl"
    di = di or f"{name}-{version}.dist-info"
    rows = []
    with zipfile.ZipFile(fn, "w", zipfile.ZIP_DEFLATED) as z:
        for path, data in files:
            z.writestr(path, data)
            if isinstance(path, zipfile.ZipInfo):
                path = path.filename
            if path not in skip_record:
                rows.append(f"{path},{digest(hashlib.sha256(data))},{len(data)}")
        if record:
            text = "\n".join(rows + [f"{di}/RECORD,,"]) + "\n"
            if tamper:
                text = tamper(text)
            z.writestr(f"{di}/RECORD", text)
    return fn


def std(name, version="1.0"):
    di = f"{name}-{version}.dist-info"
    return [(f"{di}/METADATA", meta(name, version)), (f"{di}/WHEEL", WHEEL)]


# 2 GiB of zeros in one `.so`: about 2 MB compressed.
di = "bomb-1.0.dist-info"
with zipfile.ZipFile(f"{OUT}/bomb-1.0-py3-none-any.whl", "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
    h = hashlib.sha256()
    chunk = bytes(1 << 20)
    with z.open("bomb/_huge.so", "w", force_zip64=True) as f:
        for _ in range(2048):
            f.write(chunk)
            h.update(chunk)
    rows = [f"bomb/_huge.so,{digest(h)},{2048 << 20}"]
    for path, data in [("bomb/__init__.py", b"")] + std("bomb"):
        z.writestr(path, data)
        rows.append(f"{path},{digest(hashlib.sha256(data))},{len(data)}")
    z.writestr(f"{di}/RECORD", "\n".join(rows + [f"{di}/RECORD,,"]) + "\n")

wheel("dup", [("dup/__init__.py", b"A = 1\n"), ("dup/__init__.py", b"A = 2\n")] + std("dup"))
wheel("nometa", [("nometa/__init__.py", b"")] + std("nometa")[1:])
wheel("nowheelfile", [("nowheelfile/__init__.py", b"")] + std("nowheelfile")[:1])
wheel(
    "future",
    [("future/__init__.py", b""), ("future-1.0.dist-info/METADATA", meta("future", "1.0")),
     ("future-1.0.dist-info/WHEEL", b"Wheel-Version: 2.0\n")],
)
wheel("twodist", [("twodist/__init__.py", b"")] + std("twodist") + std("other"))
wheel("misnamed", [("misnamed/__init__.py", b""), ("misnamed-1.0.dist-info/METADATA",
                   meta("misnamed", "1.1")), ("misnamed-1.0.dist-info/WHEEL", WHEEL)])
wheel(
    "tampered",
    [("tampered/__init__.py", b"print('evil')\n")] + std("tampered"),
    tamper=lambda t: t.replace(
        digest(hashlib.sha256(b"print('evil')\n")), digest(hashlib.sha256(b"print('good')\n"))
    ),
)
wheel("unlisted", [("unlisted/__init__.py", b""), ("unlisted/extra.py", b"X = 1\n")]
      + std("unlisted"), skip_record=("unlisted/extra.py",))
wheel("norecord", [("norecord/__init__.py", b"")] + std("norecord"), record=False)
# Not ELF past its magic: kept unstripped with a warning (the build succeeds).
wheel("badelf", [("badelf/__init__.py", b""), ("badelf/_x.so", b"\x7fELF\x02\x01\x01" + bytes(9))]
      + std("badelf"))
link = zipfile.ZipInfo("symlink/link.py")
link.create_system = 3
link.external_attr = 0o120777 << 16
wheel("symlink", [("symlink/__init__.py", b""), (link, b"__init__.py")] + std("symlink"))
