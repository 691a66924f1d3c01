"""A real S3-compatible server on 127.0.0.1 for tests: moto's server, in its own process.

moto implements the S3 wire protocol (signatures, checksums, 404s) in a local
HTTP server; jikimi's S3 blob store talks to it through boto3 exactly as to AWS
or MinIO. Nothing connects anywhere else: the endpoint is loopback and the
credentials are given, so boto3 never looks for an instance role.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

ACCESS_KEY = "jikimi-test"
SECRET_KEY = "jikimi-test-secret"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(s3={"addressing_style": "path"}),
        )

    def make_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def env(self, bucket: str, prefix: str = "") -> dict[str, str]:
        """The ``JIKIMI_*`` variables of a process using ``s3://bucket/prefix``."""
        return {
            "JIKIMI_BLOB_STORE": f"s3://{bucket}/{prefix}".rstrip("/"),
            "JIKIMI_BLOB_S3_ENDPOINT": self.endpoint,
            "JIKIMI_BLOB_S3_REGION": REGION,
            "JIKIMI_BLOB_S3_ACCESS_KEY": ACCESS_KEY,
            "JIKIMI_BLOB_S3_SECRET_KEY": SECRET_KEY,
        }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_s3() -> Iterator[S3Server]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the moto S3 server did not start") from None
                time.sleep(0.1)
        yield S3Server(f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
