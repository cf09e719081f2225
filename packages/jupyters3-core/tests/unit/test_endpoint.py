"""Endpoint parsing and addressing style (path vs virtual-hosted)."""

import pytest

from jupyters3.errors import BadConfiguration
from jupyters3.s3 import endpoint as ep


def test_parse_endpoint_full_url_and_bare_host():
    """A full URL keeps its scheme and port; a bare host means https."""
    local = ep.parse_endpoint("http://127.0.0.1:9000")
    assert (local.scheme, local.host, local.port, local.is_aws) == (
        "http",
        "127.0.0.1",
        9000,
        False,
    )
    assert local.netloc == "127.0.0.1:9000"

    bare = ep.parse_endpoint("s3.eu-west-1.amazonaws.com")
    assert (bare.scheme, bare.host, bare.port, bare.is_aws) == (
        "https",
        "s3.eu-west-1.amazonaws.com",
        None,
        True,
    )
    assert ep.parse_endpoint("https://minio.local:443/").netloc == "minio.local"


@pytest.mark.parametrize(
    "url",
    ["ftp://host", "http://", "http://user:pw@host", "http://host/?x=1", "http://host:99999"],
)
def test_parse_endpoint_rejects_unusable_urls(url):
    """Anything but an http(s) URL with a host is a configuration error."""
    with pytest.raises(BadConfiguration) as info:
        ep.parse_endpoint(url)
    assert "endpoint" in str(info.value)


def test_aws_endpoint_regions():
    """The regional endpoint, including the China partition."""
    assert ep.aws_endpoint("eu-west-1").host == "s3.eu-west-1.amazonaws.com"
    assert ep.aws_endpoint("cn-north-1").host == "s3.cn-north-1.amazonaws.com.cn"


def test_auto_addressing_on_aws_is_virtual_hosted():
    """AWS + DNS-safe bucket: virtual-hosted; the key is encoded once, not normalised."""
    t = ep.target(ep.aws_endpoint("us-east-1"), "my-bucket", "a b/../ü", style="auto")

    assert t.host == "my-bucket.s3.us-east-1.amazonaws.com"
    assert t.path == "/a%20b/../%C3%BC"
    assert t.url == "https://my-bucket.s3.us-east-1.amazonaws.com/a%20b/../%C3%BC"


def test_auto_addressing_with_dots_or_custom_endpoint_is_path_style():
    """Dotted buckets (TLS wildcard) and custom endpoints use path style."""
    dotted = ep.target(ep.aws_endpoint("us-east-1"), "my.bucket", "k", style="auto")
    assert (dotted.host, dotted.path) == ("s3.us-east-1.amazonaws.com", "/my.bucket/k")

    local = ep.target(ep.parse_endpoint("http://127.0.0.1:5000"), "b", "k+1", style="auto")
    assert local.url == "http://127.0.0.1:5000/b/k%2B1"


def test_bucket_level_target_and_query():
    """key=None addresses the bucket; the query is appended verbatim."""
    e = ep.parse_endpoint("http://127.0.0.1:5000")
    assert ep.target(e, "b", None, style="path", query="list-type=2").url == (
        "http://127.0.0.1:5000/b?list-type=2"
    )
    assert ep.target(e, "b", "", style="path").path == "/b/"
    virtual = ep.target(ep.aws_endpoint("us-east-1"), "b-1", None, style="virtual")
    assert (virtual.host, virtual.path) == ("b-1.s3.us-east-1.amazonaws.com", "/")


def test_base_path_of_endpoint_is_kept():
    """An endpoint behind a path prefix (a reverse proxy) keeps it."""
    e = ep.parse_endpoint("https://gateway.example/s3/")
    assert ep.target(e, "b", "k", style="path").path == "/s3/b/k"


def test_virtual_style_refuses_non_dns_bucket():
    """Forcing virtual-hosted on a bucket that is not a DNS label is a config error."""
    with pytest.raises(BadConfiguration, match="addressing_style"):
        ep.target(ep.aws_endpoint("us-east-1"), "Under_Score", "k", style="virtual")


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("", "https://s3.amazonaws.com"),
        ("", "https://s3.us-east-1.amazonaws.com/"),
        ("https://s3.eu-west-1.amazonaws.com", "https://s3.dualstack.us-east-2.amazonaws.com"),
        ("https://s3-fips.us-gov-west-1.amazonaws.com", ""),
        ("http://minio:9000", "http://minio:9000/"),
        ("HTTP://MinIO:9000", "http://minio:9000"),
        ("https://minio.corp:443", "https://minio.corp/"),
        ("http://127.0.0.1:80/", "http://127.0.0.1"),
        ("https://s3.cn-north-1.amazonaws.com.cn", "https://s3.cn-northwest-1.amazonaws.com.cn"),
    ],
)
def test_endpoint_settings_that_name_one_service_compare_equal(one: str, other: str) -> None:
    assert ep.same_service_key(one) == ep.same_service_key(other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("", "https://s3.cn-north-1.amazonaws.com.cn"),
        ("", "http://minio:9000"),
        ("http://minio:9000", "https://minio:9000"),
        ("http://minio:9000", "http://minio:9001"),
        ("http://minio:9000/a", "http://minio:9000/b"),
        ("", "https://s3.example.com"),
        ("", "http://s3.amazonaws.com"),
    ],
)
def test_endpoint_settings_that_name_two_services_differ(one: str, other: str) -> None:
    assert ep.same_service_key(one) != ep.same_service_key(other)
