#!/usr/bin/env python3
"""Vendor pinned JavaScript packages from the npm registry, with their licences.

The web pages serve every asset themselves (``default-src 'self'``), so a
library they use is committed under ``src/jikimi/ui/**/vendor/<name>/``. This
script is the only way such files get there: for each package of the manifest
(``scripts/vendor.json``: name, exact version, the registry's ``integrity``
string, the files to keep and where they go) it downloads the registry's
tarball, refuses it unless its SHA-512 is the pinned one, and writes the listed
files, every licence file of the package and a ``VENDORED.json`` saying what was
taken from where. Nothing is run from the package (no ``npm install``, no
scripts).

Usage::

    python scripts/vendor_js.py                 # vendor everything in the manifest
    python scripts/vendor_js.py --check         # fail if the files on disk differ
    python scripts/vendor_js.py --registry URL  # a mirror (default: registry.npmjs.org)

To add a package: ``npm view NAME@VERSION dist.integrity`` gives the string to pin.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "scripts" / "vendor.json"
REGISTRY = "https://registry.npmjs.org"
LICENCE_NAMES = ("license", "licence", "copying", "notice")


def tarball_url(registry: str, name: str, version: str) -> str:
    base = name.split("/")[-1]  # a scoped package's tarball is named without its scope
    return f"{registry.rstrip('/')}/{name}/-/{base}-{version}.tgz"


def check_integrity(data: bytes, integrity: str) -> None:
    algo, _, expected = integrity.partition("-")
    if algo != "sha512":
        raise SystemExit(f"pin a sha512 integrity, not {integrity!r}")
    got = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if got != expected:
        raise SystemExit(f"integrity mismatch: got sha512-{got}, pinned {integrity}")


def _members(data: bytes) -> dict[str, bytes]:
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            path = PurePosixPath(member.name)
            if path.is_absolute() or ".." in path.parts or len(path.parts) < 2:
                continue
            handle = tar.extractfile(member)
            if handle is not None:
                out[str(PurePosixPath(*path.parts[1:]))] = handle.read()  # drop "package/"
    return out


def files_for(spec: dict[str, object], data: bytes) -> dict[str, bytes]:
    """What goes into the package's directory: the listed files, licences, provenance."""
    members = _members(data)
    wanted = [str(f) for f in spec["files"]]  # type: ignore[attr-defined]
    missing = [f for f in wanted if f not in members]
    if missing:
        raise SystemExit(f"{spec['name']}@{spec['version']} has no {', '.join(missing)}")
    out = {PurePosixPath(f).name: members[f] for f in wanted}
    for path, content in members.items():
        if "/" not in path and path.lower().split(".")[0] in LICENCE_NAMES:
            out[path] = content
    if not any(n.lower().split(".")[0] in LICENCE_NAMES for n in out):
        raise SystemExit(f"{spec['name']} ships no licence file: vendor it by hand, never")
    record = {k: spec[k] for k in ("name", "version", "integrity")}
    record["files"] = sorted(out)
    out["VENDORED.json"] = (json.dumps(record, indent=2) + "\n").encode()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--registry", default=REGISTRY)
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args(argv)
    specs = json.loads(args.manifest.read_text())["packages"]
    stale = 0
    for spec in specs:
        url = tarball_url(args.registry, spec["name"], spec["version"])
        with urllib.request.urlopen(url, timeout=60) as response:
            data = response.read()
        check_integrity(data, spec["integrity"])
        dest = (args.manifest.parent.parent / spec["dest"]).resolve()
        for name, content in files_for(spec, data).items():
            target = dest / name
            if args.check:
                if not target.is_file() or target.read_bytes() != content:
                    print(f"stale: {target}")
                    stale += 1
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        print(f"{spec['name']}@{spec['version']} -> {dest}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
