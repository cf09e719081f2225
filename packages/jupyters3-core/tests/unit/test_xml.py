"""The S3 XML parsers and builders, on bodies shaped like real S3 answers."""

import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jupyters3.s3 import xml

NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'

LIST_URL_ENCODED = f"""<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult {NS}>
  <Name>bucket</Name><Prefix>d%2F</Prefix><KeyCount>3</KeyCount><MaxKeys>1000</MaxKeys>
  <Delimiter>%2F</Delimiter><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
  <Contents>
    <Key>d/%C3%BC%20%C3%B1%25%2B%26.txt</Key>
    <LastModified>2009-10-12T17:50:30.000Z</LastModified>
    <ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag>
    <Size>434234</Size><StorageClass>STANDARD</StorageClass>
  </Contents>
  <Contents>
    <Key>d/test_file%283%29.png</Key>
    <LastModified>2026-11-26T10:14:46.893876Z</LastModified>
    <ETag>"abc-2"</ETag><Size>0</Size>
  </Contents>
  <CommonPrefixes><Prefix>d/sub%20dir/</Prefix></CommonPrefixes>
</ListBucketResult>""".encode()


def test_list_objects_v2_decodes_url_encoded_keys_and_prefixes():
    """Keys and common prefixes are URL-decoded when EncodingType is url."""
    page = xml.parse_list_objects_v2(LIST_URL_ENCODED)

    assert [o.key for o in page.objects] == ["d/ü ñ%+&.txt", "d/test_file(3).png"]
    assert page.common_prefixes == ["d/sub dir/"]
    assert page.is_truncated is True
    assert page.next_continuation_token == "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="
    first = page.objects[0]
    assert first.size == 434234
    assert first.etag == "fba9dede5f27731c9771645a39863328"
    assert first.last_modified == datetime(2009, 10, 12, 17, 50, 30, tzinfo=timezone.utc)
    assert page.objects[1].last_modified.microsecond == 893876


def test_list_objects_v2_without_encoding_keeps_keys_verbatim():
    """Without EncodingType a '%' in a key is literal."""
    body = b"""<ListBucketResult><IsTruncated>false</IsTruncated>
      <Contents><Key>a%20b</Key><LastModified>2020-01-01T00:00:00Z</LastModified>
      <ETag>"x"</ETag><Size>1</Size></Contents></ListBucketResult>"""

    page = xml.parse_list_objects_v2(body)

    assert [o.key for o in page.objects] == ["a%20b"]
    assert page.is_truncated is False
    assert page.next_continuation_token is None


def test_list_objects_v2_rejects_other_documents():
    """An Error or garbage body is not mistaken for an empty listing."""
    with pytest.raises(xml.XMLError):
        xml.parse_list_objects_v2(b"<Error><Code>NoSuchBucket</Code></Error>")
    with pytest.raises(xml.XMLError):
        xml.parse_list_objects_v2(b"not xml at all")


def test_list_objects_v2_reads_encoding_type_wherever_it_appears():
    """Some stores put EncodingType after the entries; keys are still decoded,
    and a namespace prefix on the tags is ignored."""
    body = b"""<s3:ListBucketResult xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/">
      <s3:Contents><s3:Key>a%20b</s3:Key><s3:LastModified>2020-01-01T00:00:00Z</s3:LastModified>
      <s3:ETag>"x"</s3:ETag><s3:Size>7</s3:Size></s3:Contents>
      <s3:CommonPrefixes><s3:Prefix>c%2Fd/</s3:Prefix></s3:CommonPrefixes>
      <s3:IsTruncated>false</s3:IsTruncated><s3:EncodingType>url</s3:EncodingType>
      </s3:ListBucketResult>"""

    page = xml.parse_list_objects_v2(body)

    assert page.objects == [
        xml.ListedObject("a b", 7, "x", datetime(2020, 1, 1, tzinfo=timezone.utc))
    ]
    assert page.common_prefixes == ["c/d/"]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<ListBucketResult><Contents><Key>a</Key>",  # cut short
        b"<ListBucketResult><Contents><Size>ten</Size></Contents></ListBucketResult>",
        b"<ListBucketResult><Contents><LastModified>yesterday</LastModified>"
        b"</Contents></ListBucketResult>",
    ],
)
def test_list_objects_v2_rejects_broken_pages(body: bytes):
    """A truncated body, a non-numeric Size or a bad timestamp is an XMLError,
    never a partial listing."""
    with pytest.raises(xml.XMLError):
        xml.parse_list_objects_v2(body)


_KEY_TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
    min_size=1,
    max_size=40,
)


@given(
    entries=st.lists(
        st.tuples(_KEY_TEXT, st.integers(0, 2**45), st.text("0123456789abcdef", max_size=32)),
        max_size=60,
    ),
    prefixes=st.lists(_KEY_TEXT, max_size=10),
    truncated=st.booleans(),
)
def test_list_objects_v2_matches_an_element_tree_reading(
    entries: list[tuple[str, int, str]], prefixes: list[str], truncated: bool
):
    """Any page built with ElementTree (escaping included) parses back to the
    same entries, across the 16 KiB pieces the parser is fed in."""
    root = ET.Element("ListBucketResult", xmlns="http://s3.amazonaws.com/doc/2006-03-01/")
    ET.SubElement(root, "IsTruncated").text = "true" if truncated else "false"
    for key, size, etag in entries:
        contents = ET.SubElement(root, "Contents")
        ET.SubElement(contents, "Key").text = key + "x" * 300  # long enough to span pieces
        ET.SubElement(contents, "LastModified").text = "2026-11-26T10:14:46.893Z"
        ET.SubElement(contents, "ETag").text = f'"{etag}"'
        ET.SubElement(contents, "Size").text = str(size)
    for prefix in prefixes:
        ET.SubElement(ET.SubElement(root, "CommonPrefixes"), "Prefix").text = prefix
    if truncated:
        ET.SubElement(root, "NextContinuationToken").text = "token/+="

    page = xml.parse_list_objects_v2(ET.tostring(root, encoding="utf-8"))

    when = datetime(2026, 11, 26, 10, 14, 46, 893000, tzinfo=timezone.utc)
    assert page.objects == [
        xml.ListedObject(key + "x" * 300, size, etag, when) for key, size, etag in entries
    ]
    assert page.common_prefixes == prefixes
    assert page.is_truncated is truncated
    assert page.next_continuation_token == ("token/+=" if truncated else None)


def test_parse_error_keeps_only_safe_fields():
    """Signature errors echo StringToSign/CanonicalRequest; those are dropped."""
    body = b"""<?xml version="1.0" encoding="UTF-8"?>
    <Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated
    does not match.</Message><AWSAccessKeyId>AKID</AWSAccessKeyId>
    <StringToSign>AWS4-HMAC-SHA256 secretish</StringToSign>
    <CanonicalRequest>GET / x-amz-security-token:TOKEN</CanonicalRequest>
    <RequestId>4442587FB7D0A2F9</RequestId></Error>"""

    info = xml.parse_error(body)

    assert info is not None
    assert info.code == "SignatureDoesNotMatch"
    assert info.request_id == "4442587FB7D0A2F9"
    assert "TOKEN" not in repr(info) and "secretish" not in repr(info)


def test_parse_error_key_and_region():
    """Key and Region are read when present; non-error bodies give None."""
    info = xml.parse_error(
        b"<Error><Code>NoSuchKey</Code><Message>m</Message><Key>a b</Key>"
        b"<Region>eu-west-1</Region></Error>"
    )
    assert info == xml.ErrorInfo("NoSuchKey", "m", "", "a b", "eu-west-1")
    assert xml.parse_error(b"") is None
    assert xml.parse_error(b"<CopyObjectResult/>") is None
    assert xml.parse_error(b"<Error><Code>broken") is None


def test_copy_result_and_complete_result():
    """CopyObjectResult / CopyPartResult / CompleteMultipartUploadResult bodies."""
    copy = xml.parse_copy_result(
        f"<CopyObjectResult {NS}><LastModified>2009-10-28T22:32:00Z</LastModified>"
        "<ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag></CopyObjectResult>".encode()
    )
    assert copy.etag == '"9b2cf535f27731c974343645a3985328"'
    assert copy.last_modified == datetime(2009, 10, 28, 22, 32, tzinfo=timezone.utc)
    part = xml.parse_copy_result(b'<CopyPartResult><ETag>"e"</ETag></CopyPartResult>')
    assert part.last_modified is None
    done = xml.parse_complete_multipart(
        f"<CompleteMultipartUploadResult {NS}><Location>l</Location><Bucket>b</Bucket>"
        '<Key>k</Key><ETag>"3858f62230ac3c915f300c664312c11f-9"</ETag>'
        "</CompleteMultipartUploadResult>".encode()
    )
    assert done == '"3858f62230ac3c915f300c664312c11f-9"'
    with pytest.raises(xml.XMLError):
        xml.parse_copy_result(b"<Error><Code>InternalError</Code></Error>")


def test_initiate_multipart():
    """The UploadId is extracted; a body without one is an error."""
    body = (
        f"<InitiateMultipartUploadResult {NS}><Bucket>b</Bucket><Key>k</Key>"
        "<UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>"
        "</InitiateMultipartUploadResult>"
    ).encode()
    assert xml.parse_initiate_multipart(body).startswith("VXBsb2Fk")
    with pytest.raises(xml.XMLError):
        xml.parse_initiate_multipart(b"<InitiateMultipartUploadResult/>")


def test_delete_result_reports_per_key_errors():
    """DeleteObjects answers 200 even when keys fail; the failures are returned."""
    body = f"""<DeleteResult {NS}>
      <Deleted><Key>sample1.txt</Key></Deleted>
      <Error><Key>sample2.txt</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>
    </DeleteResult>""".encode()

    result = xml.parse_delete_result(body)

    assert result.deleted == ["sample1.txt"]
    assert result.errors == [xml.DeleteError("sample2.txt", "AccessDenied", "Access Denied")]


def test_list_multipart_uploads():
    """In-progress uploads are listed with decoded keys and the next markers."""
    body = f"""<ListMultipartUploadsResult {NS}><Bucket>b</Bucket>
      <EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>
      <NextKeyMarker>a%20b</NextKeyMarker><NextUploadIdMarker>u2</NextUploadIdMarker>
      <Upload><Key>a%20b</Key><UploadId>u2</UploadId>
      <Initiated>2010-11-10T20:48:33.000Z</Initiated></Upload>
    </ListMultipartUploadsResult>""".encode()

    uploads, truncated, key_marker, upload_marker = xml.parse_list_multipart_uploads(body)

    assert [(u.key, u.upload_id) for u in uploads] == [("a b", "u2")]
    assert (truncated, key_marker, upload_marker) == (True, "a b", "u2")


def test_build_complete_multipart_sorts_parts():
    """Parts are sent in ascending order whatever order they finished in."""
    body = xml.build_complete_multipart([(2, '"b"'), (1, '"a"')])
    root = ET.fromstring(body)
    numbers = [p.findtext("PartNumber") for p in root.findall("Part")]
    assert numbers == ["1", "2"]
    assert [p.findtext("ETag") for p in root.findall("Part")] == ['"a"', '"b"']


@given(st.lists(st.text(min_size=1), max_size=20))
def test_build_delete_round_trips_every_xml_character(keys):
    """Every key XML 1.0 can carry survives the DeleteObjects body exactly;
    any other key is refused before a request is built."""
    if not all(xml.xml_safe(k) for k in keys):
        with pytest.raises(xml.XMLError):
            xml.build_delete(keys)
        return

    root = ET.fromstring(xml.build_delete(keys))

    assert [o.findtext("Key") for o in root.findall("Object")] == keys
    assert root.findtext("Quiet") == "true"


def test_build_delete_names_the_version_of_each_key_given_one():
    body = xml.build_delete(["a&b", "c"], etags={"a&b": '"0123abcd"', "c": None})
    objects = ET.fromstring(body).findall("Object")
    assert [(o.findtext("Key"), o.findtext("ETag")) for o in objects] == [
        ("a&b", '"0123abcd"'),
        ("c", None),
    ]


def test_parse_iso8601_rejects_garbage():
    """A timestamp that is not ISO 8601 is an XMLError, not a crash elsewhere."""
    with pytest.raises(xml.XMLError):
        xml.parse_iso8601("yesterday")
    assert xml.parse_iso8601("2020-01-01T00:00:00").tzinfo is not None


def test_list_versions_reads_versions_and_delete_markers_in_order():
    body = b"""<?xml version="1.0" encoding="UTF-8"?>
<ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>
  <NextKeyMarker>a%20b</NextKeyMarker><NextVersionIdMarker>v3</NextVersionIdMarker>
  <DeleteMarker><Key>a%20b</Key><VersionId>v3</VersionId><IsLatest>true</IsLatest>
    <LastModified>2026-12-05T04:00:02.000Z</LastModified></DeleteMarker>
  <Version><Key>a%20b</Key><VersionId>v2</VersionId><IsLatest>false</IsLatest>
    <LastModified>2026-12-05T04:00:01.000Z</LastModified><ETag>"e2"</ETag><Size>5</Size></Version>
</ListVersionsResult>"""
    versions, truncated, next_key, next_version = xml.parse_list_versions(body)
    assert (truncated, next_key, next_version) == (True, "a b", "v3")
    assert [
        (v.key, v.version_id, v.is_latest, v.delete_marker, v.size, v.etag) for v in versions
    ] == [
        ("a b", "v3", True, True, 0, ""),
        ("a b", "v2", False, False, 5, "e2"),
    ]


def test_versioning_status_is_read_or_empty():
    enabled = b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>"
    assert xml.parse_versioning(enabled) == "Enabled"
    assert xml.parse_versioning(b"<VersioningConfiguration/>") == ""
    with pytest.raises(xml.XMLError):
        xml.parse_versioning(b"<ListBucketResult/>")


# -- document type declarations: refused before any parsing ------------------------

_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">'.encode() for i in range(2, 10)
    ).replace(b"&lol1;", b"&lol;")
    + b"]><ListBucketResult><Contents><Key>&lol9;</Key></Contents></ListBucketResult>"
)
_ENTITY_KEY = (
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY k "secret/../other">]>'
    b"<ListBucketResult><Contents><Key>&k;</Key><Size>1</Size></Contents></ListBucketResult>"
)


@pytest.mark.parametrize("body", [_LAUGHS, _ENTITY_KEY, b"<!doctype x><Error/>"])
@pytest.mark.parametrize(
    "parse",
    [
        xml.parse_list_objects_v2,
        xml.parse_list_versions,
        xml.parse_delete_result,
        xml.parse_copy_result,
        xml.parse_list_multipart_uploads,
        xml.parse_versioning,
        xml.parse_initiate_multipart,
        xml.parse_complete_multipart,
    ],
)
def test_a_doctype_is_refused_before_parsing(body: bytes, parse: Any) -> None:
    # DoctypeRefused, not expat's own "limit on input amplification" error:
    # nothing was parsed, so nothing was expanded.
    with pytest.raises(xml.DoctypeRefused):
        parse(body)


def test_an_error_body_with_a_doctype_is_no_error_document() -> None:
    assert (
        xml.parse_error(b"<!DOCTYPE e [<!ENTITY c 'AccessDenied'>]><Error><Code>&c;</Code></Error>")
        is None
    )


def test_a_doctype_named_inside_a_key_is_text_not_markup() -> None:
    body = (
        b"<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>a%3C%21DOCTYPE</Key>"
        b"<Size>1</Size><ETag>e</ETag><LastModified>2026-01-01T00:00:00Z</LastModified>"
        b"</Contents></ListBucketResult>"
    )
    assert [o.key for o in xml.parse_list_objects_v2(body).objects] == ["a<!DOCTYPE"]
