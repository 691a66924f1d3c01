"""The vendoring script against a registry on 127.0.0.1: pins checked, licences kept."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "vendor_js.py"


def _tgz(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "registry"
    handler = partial(SimpleHTTPRequestHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def _run(tmp_path: Path, url: str, integrity: str, *extra: str) -> subprocess.CompletedProcess[str]:
    manifest = tmp_path / "scripts" / "vendor.json"
    manifest.parent.mkdir(exist_ok=True)
    spec = {
        "name": "tiny-lib",
        "version": "1.2.3",
        "integrity": integrity,
        "files": ["dist/tiny.js"],
        "dest": "vendor/tiny-lib",
    }
    manifest.write_text(json.dumps({"packages": [spec]}))
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--manifest", str(manifest), "--registry", url, *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_vendors_the_pinned_files_with_their_licence(
    tmp_path: Path, registry: tuple[str, Path]
) -> None:
    url, root = registry
    data = _tgz({"dist/tiny.js": b"export const x = 1;\n", "LICENSE": b"MIT\n", "x.md": b"-"})
    (root / "tiny-lib" / "-").mkdir(parents=True)
    (root / "tiny-lib" / "-" / "tiny-lib-1.2.3.tgz").write_bytes(data)
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()

    done = _run(tmp_path, url, integrity)
    assert done.returncode == 0, done.stderr
    dest = tmp_path / "vendor" / "tiny-lib"
    assert sorted(p.name for p in dest.iterdir()) == ["LICENSE", "VENDORED.json", "tiny.js"]
    assert json.loads((dest / "VENDORED.json").read_text())["integrity"] == integrity
    assert _run(tmp_path, url, integrity, "--check").returncode == 0
    (dest / "tiny.js").write_text("changed by hand")
    assert _run(tmp_path, url, integrity, "--check").returncode == 1

    wrong = "sha512-" + base64.b64encode(hashlib.sha512(b"other").digest()).decode()
    refused = _run(tmp_path, url, wrong)
    assert refused.returncode != 0 and "integrity mismatch" in refused.stderr
