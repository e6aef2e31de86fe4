#!/usr/bin/env python3
"""Builds a small busybox OCI image from Debian's busybox-static, offline.

    build_busybox_image.py --layout DIR [--tag 1] [--archive FILE.tar]
                           [--docker-archive FILE.tar] [--name busybox:1]

--layout writes an OCI image layout directory (index.json names the image
by --tag through org.opencontainers.image.ref.name); --archive also writes
that layout as one tar (an "OCI archive"); --docker-archive writes what
`docker save` produces (manifest.json + RepoTags --name). Output is
deterministic (mtime 0, sorted entries), so digests are stable across runs.
Pure standard library.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import tarfile

APPLETS = ("sh httpd sleep nc wget cat ls ps ip hostname echo true false id env dd head mount "
           "top free timeout kill touch rm test nslookup").split()
BUSYBOX = "/bin/busybox"


def _add(tar, name, *, data=None, kind=tarfile.REGTYPE, mode=0o644, link=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if kind == tarfile.SYMTYPE:
        info.linkname = link
    if data is not None:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    else:
        tar.addfile(info)


def layer_tar():
    """The uncompressed layer tar (bytes)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("bin", "etc", "www", "tmp", "proc", "sys", "dev", "root", "var", "run"):
            _add(tar, d, kind=tarfile.DIRTYPE, mode=0o1777 if d == "tmp" else 0o755)
        with open(BUSYBOX, "rb") as f:
            _add(tar, "bin/busybox", data=f.read(), mode=0o755)
        for a in sorted(APPLETS):
            _add(tar, "bin/" + a, kind=tarfile.SYMTYPE, link="busybox", mode=0o777)
        _add(tar, "etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
        _add(tar, "etc/group", data=b"root:x:0:\nnogroup:x:65534:\n")
        _add(tar, "www/index.html", data=b"<h1>hello from pod</h1>\n")
    return buf.getvalue()


def _digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def build(tag):
    """Returns (blobs {digest: bytes}, manifest digest, config digest, layer digest, diff id)."""
    raw = layer_tar()
    gz = gzip.compress(raw, compresslevel=6, mtime=0)
    diff_id = _digest(raw)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["/bin/sh"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "build_busybox_image.py"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _digest(config_bytes), "size": len(config_bytes)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": _digest(gz), "size": len(gz)}],
    }
    manifest_bytes = json.dumps(manifest, sort_keys=True).encode()
    blobs = {_digest(config_bytes): config_bytes, _digest(gz): gz, _digest(manifest_bytes): manifest_bytes}
    return blobs, _digest(manifest_bytes), _digest(config_bytes), _digest(gz), diff_id, raw


def layout_files(tag):
    blobs, mdigest, _, _, _, _ = build(tag)
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdigest,
                       "size": len(blobs[mdigest]),
                       "annotations": {"org.opencontainers.image.ref.name": tag}}],
    }
    files = {"oci-layout": json.dumps({"imageLayoutVersion": "1.0.0"}).encode(),
             "index.json": json.dumps(index, sort_keys=True).encode()}
    for d, data in blobs.items():
        files["blobs/sha256/" + d.split(":", 1)[1]] = data
    return files


def write_tar(path, files):
    dirs = sorted({os.path.dirname(n) for n in files if os.path.dirname(n)} | {"blobs"})
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for d in dirs:
            _add(tar, d, kind=tarfile.DIRTYPE, mode=0o755)
        for name in sorted(files):
            _add(tar, name, data=files[name])


def docker_archive(path, name):
    _, _, _, _, diff_id, raw = build("unused")
    blobs, _, cdigest, _, _, _ = build("unused")
    config_name = cdigest.split(":", 1)[1] + ".json"
    layer_dir = diff_id.split(":", 1)[1]
    files = {
        config_name: blobs[cdigest],
        layer_dir + "/layer.tar": raw,
        layer_dir + "/VERSION": b"1.0",
        "manifest.json": json.dumps([{"Config": config_name, "RepoTags": [name],
                                      "Layers": [layer_dir + "/layer.tar"]}]).encode(),
        "repositories": json.dumps({name.rsplit(":", 1)[0]: {name.rsplit(":", 1)[1]: layer_dir}}).encode(),
    }
    write_tar(path, files)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layout", help="write an OCI image layout directory here")
    ap.add_argument("--tag", default="1", help="ref.name annotation in index.json")
    ap.add_argument("--archive", help="write the layout as an OCI archive tar here")
    ap.add_argument("--docker-archive", help="write a docker-save tarball here")
    ap.add_argument("--name", default="busybox:1", help="RepoTags entry of the docker archive")
    args = ap.parse_args()
    files = layout_files(args.tag)
    if args.layout:
        for name, data in files.items():
            p = os.path.join(args.layout, name)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(data)
    if args.archive:
        write_tar(args.archive, files)
    if args.docker_archive:
        docker_archive(args.docker_archive, args.name)
    index = json.loads(files["index.json"])
    print(index["manifests"][0]["digest"])


if __name__ == "__main__":
    main()
