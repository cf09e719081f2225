"""Which IAM authorizations one S3 request needs (path-style requests).

:func:`s3_authorizations` maps a request (method, bucket, key, query,
headers, body) to the :class:`~jupyters3_testing.iam.AuthRequest` list S3
checks, each of which must be allowed:

* ListObjects(V2) is ``s3:ListBucket`` on the bucket, with ``s3:prefix``
  (absent when the request names no prefix), ``s3:delimiter`` and
  ``s3:max-keys``; ListObjectVersions ``s3:ListBucketVersions`` with the
  same keys; HeadBucket ``s3:ListBucket`` without a prefix;
* GetObject and HeadObject ``s3:GetObject`` (``s3:GetObjectVersion`` with
  ``versionId``); PutObject ``s3:PutObject``;
* CopyObject and UploadPartCopy: ``s3:PutObject`` on the target *and*
  ``s3:GetObject`` (or ``s3:GetObjectVersion``) on the source named by
  ``x-amz-copy-source``;
* DeleteObject ``s3:DeleteObject`` (``s3:DeleteObjectVersion`` with
  ``versionId``); DeleteObjects one of those for *each key* of its XML body;
* multipart: CreateMultipartUpload, UploadPart and CompleteMultipartUpload
  are ``s3:PutObject``, AbortMultipartUpload ``s3:AbortMultipartUpload``,
  ListParts ``s3:ListMultipartUploadParts``, ListMultipartUploads
  ``s3:ListBucketMultipartUploads``;
* GetBucketVersioning, GetBucketLocation, CreateBucket, DeleteBucket and
  ListBuckets their own actions. Any request not listed here needs an
  action no policy grants (``s3:Unrecognized...``), so it is denied.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from urllib.parse import parse_qsl, unquote

from jupyters3_testing.iam import AuthRequest

__all__ = [
    "MalformedRequest",
    "copy_source",
    "delete_objects_keys",
    "delete_requests",
    "s3_authorizations",
]

#: Sub-resources of a bucket GET and the action each needs.
_BUCKET_GETS = {
    "versioning": "s3:GetBucketVersioning",
    "location": "s3:GetBucketLocation",
    "uploads": "s3:ListBucketMultipartUploads",
    "acl": "s3:GetBucketAcl",
    "policy": "s3:GetBucketPolicy",
    "tagging": "s3:GetBucketTagging",
    "lifecycle": "s3:GetLifecycleConfiguration",
    "cors": "s3:GetBucketCORS",
    "encryption": "s3:GetEncryptionConfiguration",
}


class MalformedRequest(ValueError):
    """A request S3 would refuse before any authorization (a DeleteObjects body that is
    not XML, a copy source without a key)."""


def s3_authorizations(
    method: str,
    bucket: str,
    key: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes | None = None,
    *,
    partition: str = "aws",
    context: Mapping[str, str] | None = None,
) -> list[AuthRequest]:
    """Every authorization the request needs (``context``: keys common to all,
    e.g. the session's ``aws:PrincipalTag/...``). A DeleteObjects without its
    ``body`` is a :class:`MalformedRequest`."""
    method = method.upper()
    arn = f"arn:{partition}:s3:::"
    auth = _Maker(context or {})
    if not bucket:
        return [auth("s3:ListAllMyBuckets", "*")]
    if not key:
        if method == "POST" and "delete" in query:
            if body is None:
                raise MalformedRequest("a DeleteObjects request needs its body to be authorized")
            return delete_requests(arn + bucket, body, context)
        return [_bucket_request(method, arn + bucket, query, auth)]
    target = f"{arn}{bucket}/{key}"
    version = query.get("versionId")
    if method in ("GET", "HEAD"):
        if "uploadId" in query:
            return [auth("s3:ListMultipartUploadParts", target)]
        for sub, action in (("tagging", "s3:GetObjectTagging"), ("acl", "s3:GetObjectAcl")):
            if sub in query:
                return [auth(action, target)]
        if version is not None:
            return [auth("s3:GetObjectVersion", target, **{"s3:VersionId": version})]
        return [auth("s3:GetObject", target)]
    if method == "PUT":
        for sub, action in (("tagging", "s3:PutObjectTagging"), ("acl", "s3:PutObjectAcl")):
            if sub in query:
                return [auth(action, target)]
        source = _header(headers, "x-amz-copy-source")
        if source is None:
            return [auth("s3:PutObject", target)]
        src_bucket, src_key, src_version = copy_source(source)
        source_arn = f"{arn}{src_bucket}/{src_key}"
        found = [auth("s3:PutObject", target, **{"s3:x-amz-copy-source": source})]
        if src_version is None:
            found.append(auth("s3:GetObject", source_arn))
        else:
            found.append(auth("s3:GetObjectVersion", source_arn, **{"s3:VersionId": src_version}))
        return found
    if method == "POST":
        if "uploads" in query or "uploadId" in query:
            return [auth("s3:PutObject", target)]
        return [auth(f"s3:UnrecognizedObjectPost{sorted(query)}", target)]
    if method == "DELETE":
        if "uploadId" in query:
            return [auth("s3:AbortMultipartUpload", target)]
        if "tagging" in query:
            return [auth("s3:DeleteObjectTagging", target)]
        if version is not None:
            return [auth("s3:DeleteObjectVersion", target, **{"s3:VersionId": version})]
        return [auth("s3:DeleteObject", target)]
    return [auth(f"s3:Unrecognized{method.title()}", target)]


class _Maker:
    """Makes AuthRequests that all carry ``common`` in their context."""

    def __init__(self, common: Mapping[str, str]) -> None:
        self.common = dict(common)

    def __call__(self, action: str, resource: str, **extra: str) -> AuthRequest:
        return AuthRequest(action, resource, {**self.common, **extra})


_LISTING_PARAMS = frozenset(
    {"list-type", "prefix", "delimiter", "max-keys", "continuation-token", "start-after",
     "marker", "encoding-type", "fetch-owner", "key-marker", "version-id-marker"}
)  # fmt: skip


def _bucket_request(
    method: str, bucket_arn: str, query: Mapping[str, str], auth: _Maker
) -> AuthRequest:
    if method == "GET":
        keys = {f"s3:{k}": query[k] for k in ("prefix", "delimiter", "max-keys") if k in query}
        if "versions" in query:
            return auth("s3:ListBucketVersions", bucket_arn, **keys)
        for sub, action in _BUCKET_GETS.items():
            if sub in query:
                return auth(action, bucket_arn)
        others = sorted(set(query) - _LISTING_PARAMS)
        if others:
            return auth(f"s3:UnrecognizedBucketGet{others}", bucket_arn)
        return auth("s3:ListBucket", bucket_arn, **keys)
    if method == "HEAD":
        return auth("s3:ListBucket", bucket_arn)
    if method == "PUT" and not query:
        return auth("s3:CreateBucket", bucket_arn)
    if method == "PUT" and "versioning" in query:
        return auth("s3:PutBucketVersioning", bucket_arn)
    if method == "DELETE" and not query:
        return auth("s3:DeleteBucket", bucket_arn)
    return auth(f"s3:UnrecognizedBucket{method.title()}{sorted(query)}", bucket_arn)


def delete_requests(
    bucket_arn: str, body: bytes, context: Mapping[str, str] | None = None
) -> list[AuthRequest]:
    """DeleteObjects: ``s3:DeleteObject`` (or ``...Version``) for each key of the body."""
    found = []
    for key, version in delete_objects_keys(body):
        if version is None:
            found.append(AuthRequest("s3:DeleteObject", f"{bucket_arn}/{key}", dict(context or {})))
        else:
            extra = {**(context or {}), "s3:VersionId": version}
            found.append(AuthRequest("s3:DeleteObjectVersion", f"{bucket_arn}/{key}", extra))
    return found


def delete_objects_keys(body: bytes) -> list[tuple[str, str | None]]:
    """The ``(key, versionId or None)`` of each ``<Object>`` of a DeleteObjects body."""
    try:
        root = ET.fromstring(body)  # noqa: S314 - a test's own client wrote it
    except ET.ParseError as exc:
        raise MalformedRequest(f"DeleteObjects body is not XML: {exc}") from None
    found = []
    for obj in root:
        if obj.tag.rsplit("}", 1)[-1] != "Object":
            continue
        fields = {child.tag.rsplit("}", 1)[-1]: child.text or "" for child in obj}
        if "Key" not in fields:
            raise MalformedRequest("a DeleteObjects <Object> has no <Key>")
        found.append((fields["Key"], fields.get("VersionId")))
    return found


def copy_source(header: str) -> tuple[str, str, str | None]:
    """``(bucket, key, versionId or None)`` of an ``x-amz-copy-source`` header
    (``bucket/key`` URL-encoded, an optional leading ``/`` and ``?versionId=``)."""
    path, _, query = header.partition("?")
    bucket, _, key = unquote(path).lstrip("/").partition("/")
    if not bucket or not key:
        raise MalformedRequest(f"x-amz-copy-source {header!r} names no bucket and key")
    version = dict(parse_qsl(query)).get("versionId")
    return bucket, key, version


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None
