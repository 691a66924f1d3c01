"""Blobs in an S3-compatible bucket: what several API replicas on different machines share.

Chosen over blobs in the database (a ``bytea`` table, or PostgreSQL large
objects) because uploads and evidence are large, written once and read rarely:
in the database they would swell its backups, WAL and replication traffic and
compete with the hot tables for its cache, while any object store (AWS S3,
MinIO, Ceph RGW, Garage, SeaweedFS) is built for exactly this and scales apart.
The database keeps only the SHA-256, as with the filesystem store.

Layout: ``s3://<bucket>/<prefix>/<scope>/ab/cd/<sha256>``, as on disk. A ``PUT``
of an object is atomic (a reader sees the old object, nothing, or the whole new
one) and idempotent for content-addressed names, so the filesystem store's
temporary-file dance is not needed. A blob already there is not uploaded again
(a ``HEAD`` first: uploads of the same video by many users cost one transfer);
it is copied onto itself instead, a server-side request that makes it young
again, so ``jikimi blobs gc`` never takes a blob a new row is about to name.

Credentials come from the settings (``blob_s3_access_key``/``blob_s3_secret_key``)
or, when unset, boto3's usual chain (``AWS_*`` variables, a profile, an instance
role). The bucket must exist: jikimi never creates or deletes buckets.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from jikimi.config import Settings
from jikimi.errors import ConfigError, NotFound
from jikimi.store.blobs import StoredBlob, check_name, check_scope


class S3BlobStore:
    """Blobs under ``prefix`` in one bucket of an S3-compatible service."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    @classmethod
    def from_settings(cls, settings: Settings) -> S3BlobStore:
        parts = urlsplit(settings.blob_store.strip())
        if parts.scheme != "s3" or not parts.netloc:
            raise ConfigError("blob_store must look like s3://bucket or s3://bucket/prefix")
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise ConfigError("an s3:// blob store needs boto3: pip install 'jikimi[s3]'") from None
        secret = settings.blob_s3_secret_key
        client = boto3.client(
            "s3",
            endpoint_url=settings.blob_s3_endpoint or None,
            region_name=settings.blob_s3_region,
            aws_access_key_id=settings.blob_s3_access_key,
            aws_secret_access_key=None if secret is None else secret.get_secret_value(),
            config=Config(
                s3={"addressing_style": settings.blob_s3_addressing},
                connect_timeout=5,
                read_timeout=60,
                retries={"max_attempts": 4, "mode": "standard"},
            ),
        )
        return cls(client, parts.netloc, parts.path)

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def scoped(self, name: str) -> S3BlobStore:
        prefix = f"{self.prefix}/{check_scope(name)}" if self.prefix else check_scope(name)
        return S3BlobStore(self._client, self.bucket, prefix)

    def key(self, sha256: str) -> str:
        check_name(sha256)
        name = f"{sha256[:2]}/{sha256[2:4]}/{sha256}"
        return f"{self.prefix}/{name}" if self.prefix else name

    def put(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        if not self._touch(sha256):
            self._client.put_object(
                Bucket=self.bucket,
                Key=self.key(sha256),
                Body=data,
                ChecksumAlgorithm="SHA256",  # the service refuses bytes damaged on the way
            )
        return sha256

    def _touch(self, sha256: str) -> bool:
        """Refresh an existing blob's time; ``False`` if there is none."""
        if not self.exists(sha256):
            return False
        key = self.key(sha256)
        try:
            self._client.copy_object(
                Bucket=self.bucket,
                Key=key,
                CopySource={"Bucket": self.bucket, "Key": key},
                MetadataDirective="REPLACE",  # (S3 refuses a copy onto itself that changes nothing)
            )
        except Exception as exc:
            if _status(exc) == 404:  # deleted since the HEAD
                return False
            raise
        return True

    def read(self, sha256: str) -> bytes:
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=self.key(sha256))
        except Exception as exc:
            if _status(exc) == 404:
                raise NotFound(f"no blob {sha256}") from None
            raise
        data: bytes = answer["Body"].read()
        return data

    def _head(self, sha256: str) -> dict[str, Any] | None:
        """The object's metadata (``HEAD``), or None if there is none."""
        try:
            head: dict[str, Any] = self._client.head_object(
                Bucket=self.bucket, Key=self.key(sha256)
            )
        except Exception as exc:
            if _status(exc) == 404:
                return None
            raise
        return head

    def exists(self, sha256: str) -> bool:
        return self._head(sha256) is not None

    def delete(self, sha256: str) -> bool:
        if not self.exists(sha256):
            return False
        self._client.delete_object(Bucket=self.bucket, Key=self.key(sha256))
        return True

    def modified_at(self, sha256: str) -> datetime:
        head = self._head(sha256)
        if head is None:
            raise NotFound(f"no blob {sha256}")
        at: datetime = head["LastModified"]
        return at

    def check(self) -> None:
        """The bucket answers (a ``HEAD``: cheap enough for every readiness probe)."""
        self._client.head_bucket(Bucket=self.bucket)

    def list_blobs(self) -> Iterator[StoredBlob]:
        start = f"{self.prefix}/" if self.prefix else ""
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=start
        )
        for page in pages:
            for obj in page.get("Contents", ()):
                name = str(obj["Key"])[len(start) :]
                if _LISTED_RE.match(name):  # not a scoped area's blob
                    yield StoredBlob(name.rsplit("/", 1)[1], obj["LastModified"])


_LISTED_RE = re.compile(r"^[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}$")


def _status(exc: Exception) -> int | None:
    """The HTTP status of a botocore ClientError (``None`` for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if isinstance(status, int) else None
