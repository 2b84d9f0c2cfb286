#!/usr/bin/env python3
"""Builds hostile variants of a real rollgate backup, one per class a restore must refuse.

usage: hostile_archives.py BACKUP.tar.zst OUTDIR
Writes OUTDIR/<class>.tar.zst for every class below (tar re-packed, zstd via the zstd tool).
"""
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile


def members_of(path):
    raw = subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tf:
        out = []
        for m in tf.getmembers():
            data = tf.extractfile(m).read() if m.isfile() else None
            out.append((m, data))
        return out


def write(path, members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:", format=tarfile.PAX_FORMAT) as tf:
        for m, data in members:
            if data is not None:
                m.size = len(data)
                tf.addfile(m, io.BytesIO(data))
            else:
                tf.addfile(m)
    subprocess.run(["zstd", "-q", "-f", "-o", path], input=buf.getvalue(), check=True)


def info(name, kind=tarfile.REGTYPE, size=0, link=""):
    t = tarfile.TarInfo(name)
    t.type = kind
    t.size = size
    t.linkname = link
    t.mode = 0o644
    return t


def with_extra(base, extra, manifest_entry=True):
    """base's members with `extra` inserted before the manifest (listed in it when asked)."""
    out = []
    for m, data in base:
        if m.name == "manifest.json":
            man = json.loads(data)
            for t, d in extra:
                out.append((t, d))
                if manifest_entry:
                    e = {"path": t.name, "type": "dir" if t.isdir() else "file"}
                    if d is not None:
                        e["size"] = len(d)
                        e["sha256"] = hashlib.sha256(d).hexdigest()
                    man["members"].append(e)
            data = json.dumps(man).encode()
        out.append((m, data))
    return out


def edit_manifest(base, fn):
    out = []
    for m, data in base:
        if m.name == "manifest.json":
            man = json.loads(data)
            fn(man)
            data = json.dumps(man).encode()
        out.append((m, data))
    return out


def main():
    src, outdir = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    base = members_of(src)
    evil = b"owned\n"
    cases = {
        "absolute": with_extra(base, [(info("/tmp/rollgate-evil", size=len(evil)), evil)]),
        "dotdot": with_extra(base, [(info("filestore/../../rollgate-evil", size=len(evil)), evil)]),
        "symlink": with_extra(base, [(info("filestore/ab/link", tarfile.SYMTYPE, link="/etc/passwd"), None)]),
        "hardlink": with_extra(base, [(info("filestore/ab/hard", tarfile.LNKTYPE, link="../../etc/passwd"), None)]),
        "device": with_extra(base, [(info("filestore/ab/dev", tarfile.CHRTYPE), None)]),
        "unlisted": with_extra(base, [(info("filestore/ab/extra", size=len(evil)), evil)], manifest_entry=False),
        "badsum": edit_manifest(base, lambda m: m["members"][-1].update(sha256="0" * 64)),
        "version7": edit_manifest(base, lambda m: m.update(version=7)),
        "nomanifest": [(m, d) for m, d in base if m.name != "manifest.json"],
    }
    for name, members in cases.items():
        write(os.path.join(outdir, name + ".tar.zst"), members)
    with open(src, "rb") as f:
        whole = f.read()
    with open(os.path.join(outdir, "truncated.tar.zst"), "wb") as f:
        f.write(whole[: len(whole) // 2])


if __name__ == "__main__":
    main()
