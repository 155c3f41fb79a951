"""Create a small base image as an OCI image layout (for lpack's image tests).

usage: make_base_image.py DIR TAG ARCH   (ARCH: amd64 or arm64)
One gzip layer with /lambda-entrypoint.sh, /etc/os-release and an empty /var/task; a config
with Env and a history entry. Deterministic (fixed mtimes), so the base digest is stable.
"""
import gzip, hashlib, io, json, os, sys, tarfile

out, tag, arch = sys.argv[1], sys.argv[2], sys.argv[3]
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)

def put(data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f:
        f.write(data)
    return "sha256:" + d, len(data)

raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as t:
    def add(name, data=None, mode=0o644):
        ti = tarfile.TarInfo(name)
        ti.mtime = 0
        if data is None:
            ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            t.addfile(ti)
        else:
            ti.size, ti.mode = len(data), mode
            t.addfile(ti, io.BytesIO(data))
    add("etc/")
    add("etc/os-release", b'NAME="lpack test base"\n')
    add("lambda-entrypoint.sh", b"#!/bin/sh\nexec python3 -m awslambdaric \"$@\"\n", 0o755)
    add("var/")
    add("var/task/")
tar_bytes = raw.getvalue()
gz = gzip.compress(tar_bytes, mtime=0)
layer_digest, layer_size = put(gz)
config = {
    "architecture": arch, "os": "linux", "created": "2020-01-01T00:00:00Z",
    "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"], "WorkingDir": "/"},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar_bytes).hexdigest()]},
    "history": [{"created": "2020-01-01T00:00:00Z", "created_by": "make_base_image.py"}],
}
cfg = json.dumps(config, sort_keys=True).encode()
cfg_digest, cfg_size = put(cfg)
manifest = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_digest, "size": cfg_size},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer_size}],
}, sort_keys=True).encode()
m_digest, m_size = put(manifest)
with open(os.path.join(out, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": m_digest, "size": m_size,
        "annotations": {"org.opencontainers.image.ref.name": tag}}]}, f)
print(m_digest)
