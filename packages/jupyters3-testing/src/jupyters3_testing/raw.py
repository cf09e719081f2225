"""An independent view of what is really stored in S3, on boto3 (not jupyters3's client).

Tests of jupyters3's own S3 client should check their results with this, so
that they are not verified by the code under test.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

__all__ = ["RawS3"]


@functools.lru_cache(maxsize=8)
def _client(endpoint_url: str, region: str) -> Any:
    # Imported lazily: boto3 takes a moment to import and only tests that
    # use js3_raw need it.
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
        region_name=region,
    )
    return session.client(
        "s3",
        endpoint_url=endpoint_url,
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1, "mode": "standard"},
            proxies={},  # never route 127.0.0.1 through an HTTP(S)_PROXY from the env
            connect_timeout=10,
            read_timeout=60,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


class RawS3:
    """A small boto3-based inspector pointed directly at an S3 endpoint (path-style)."""

    def __init__(self, endpoint_url: str, region: str = "us-east-1") -> None:
        self.endpoint_url = endpoint_url
        self.region = region

    @property
    def client(self) -> Any:
        """The underlying boto3 S3 client, for anything not covered here."""
        return _client(self.endpoint_url, self.region)

    def keys(self, bucket: str, prefix: str = "", *, page_size: int | None = None) -> list[str]:
        """Every key under ``prefix`` (all pages), in S3 order."""
        paginator = self.client.get_paginator("list_objects_v2")
        config = {"PageSize": page_size} if page_size else {}
        out: list[str] = []
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix, PaginationConfig=config):
            out.extend(obj["Key"] for obj in page.get("Contents", []))
        return out

    def get(self, bucket: str, key: str) -> bytes:
        """The object's body."""
        body = self.client.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            data: bytes = body.read()
        finally:
            body.close()
        return data

    def head(self, bucket: str, key: str) -> dict[str, Any]:
        """HeadObject's result (``ETag``, ``ContentLength``, ``ContentType``, ...)."""
        result: dict[str, Any] = dict(self.client.head_object(Bucket=bucket, Key=key))
        result.pop("ResponseMetadata", None)
        return result

    def exists(self, bucket: str, key: str) -> bool:
        """True if HeadObject finds the key."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def put(
        self,
        bucket: str,
        key: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Write an object directly (bypassing any proxy), with user
        ``metadata`` (``x-amz-meta-*``) if given; returns its ETag."""
        result = self.client.put_object(
            Bucket=bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
            Metadata=dict(metadata or {}),
        )
        etag: str = result["ETag"]
        return etag

    def delete(self, bucket: str, key: str) -> None:
        """Delete one object."""
        self.client.delete_object(Bucket=bucket, Key=key)

    def multipart_uploads(self, bucket: str, prefix: str = "") -> list[dict[str, Any]]:
        """In-progress multipart uploads (``Key``, ``UploadId``, ``Initiated``, ...)."""
        paginator = self.client.get_paginator("list_multipart_uploads")
        out: list[dict[str, Any]] = []
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            out.extend(page.get("Uploads", []))
        return out

    def delete_bucket(self, bucket: str) -> None:
        """Abort its multipart uploads, delete its objects, then the bucket."""
        for upload in self.multipart_uploads(bucket):
            self.client.abort_multipart_upload(
                Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )
        keys = self.keys(bucket)
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            self.client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        self.client.delete_bucket(Bucket=bucket)
