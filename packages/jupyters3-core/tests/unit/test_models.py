"""Contents models from S3 facts, checked against jupyter_server's own validator."""

import base64
import json
import mimetypes
from datetime import datetime, timedelta, timezone

import nbformat
import pytest
import strategies
from hypothesis import given
from hypothesis import strategies as st
from jupyter_server.services.contents.handlers import validate_model

from jupyters3 import models
from jupyters3.contents_errors import BadContent
from jupyters3.keys import KeyMap
from jupyters3.s3.xml import ListedObject

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)
T1 = T0 + timedelta(minutes=5)
REQUIRED = {"name", "path", "type", "writable", "created", "last_modified", "mimetype"}
REQUIRED |= {"content", "format", "size", "hash", "hash_algorithm"}


def _nb_bytes(**kwargs):
    nb = nbformat.v4.new_notebook(**kwargs)
    nb.cells.append(nbformat.v4.new_code_cell("print('ü')"))
    return nbformat.writes(nb).encode()


def _check_types(model):
    assert set(model) >= REQUIRED
    assert isinstance(model["name"], str)
    assert isinstance(model["path"], str)
    assert model["type"] in ("file", "notebook", "directory")
    assert isinstance(model["writable"], bool)
    for field in ("created", "last_modified"):
        assert isinstance(model[field], datetime)
        assert model[field].utcoffset() is not None
    assert model["size"] is None or isinstance(model["size"], int)
    json.dumps(model, default=str)  # JSON-able with the handler's datetime hook


# --- model builders ------------------------------------------------------------


def test_guess_type():
    assert models.guess_type("a/b.ipynb") == "notebook"
    assert models.guess_type("b.IPYNB") == "file"  # case-sensitive, like the reference
    assert models.guess_type("b.ipynb.txt") == "file"
    assert models.guess_type("noext") == "file"


def test_file_model():
    model = models.file_model("dir/ü data.csv", size=12, last_modified=T1, created=T0)
    validate_model(model, expect_content=False, expect_hash=False)
    _check_types(model)
    assert model["name"] == "ü data.csv"
    assert model["path"] == "dir/ü data.csv"
    assert model["type"] == "file"
    assert model["size"] == 12
    assert model["mimetype"] == mimetypes.guess_type("x.csv")[0]
    assert (model["created"], model["last_modified"]) == (T0, T1)
    assert model["writable"] is True
    assert model["hash"] is None and model["hash_algorithm"] is None


def test_file_model_without_known_mimetype_has_none():
    assert models.file_model("README", size=0, last_modified=T0)["mimetype"] is None


def test_notebook_model():
    model = models.notebook_model("a.ipynb", size=100, last_modified=T0, writable=False)
    validate_model(model, expect_content=False, expect_hash=False)
    _check_types(model)
    assert model["type"] == "notebook"
    assert model["mimetype"] is None
    assert model["size"] == 100
    assert model["created"] == T0  # S3 has no creation time
    assert model["writable"] is False


def test_directory_model():
    model = models.directory_model("a/b", last_modified=T0)
    validate_model(model, expect_content=False, expect_hash=False)
    _check_types(model)
    assert model["type"] == "directory"
    assert model["size"] is None
    assert model["mimetype"] is None
    assert model["name"] == "b"


def test_root_model_and_epoch_default():
    model = models.directory_model("")
    validate_model(model, expect_content=False, expect_hash=False)
    assert (model["name"], model["path"]) == ("", "")
    assert model["last_modified"] == models.EPOCH == datetime(1970, 1, 1, tzinfo=timezone.utc)


def test_base_model_refuses_naive_times():
    with pytest.raises(ValueError, match="timezone-aware"):
        models.base_model("a", type="file", last_modified=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        models.base_model("a", type="file", last_modified=T0, created=datetime(2026, 1, 1))


def test_with_hash_sets_the_etag():
    model = models.file_model("a.txt", size=1, last_modified=T0)
    result = models.with_hash(model, '"d41d8cd98f00b204e9800998ecf8427e"')
    assert result is model
    validate_model(model, expect_content=False, expect_hash=True)
    assert model["hash"] == "d41d8cd98f00b204e9800998ecf8427e"
    assert model["hash_algorithm"] == models.HASH_ALGORITHM == "s3-etag"


def test_models_without_hash_fail_the_hash_check():
    """The reference keeps hash/hash_algorithm as None until asked, so does this."""
    from tornado.web import HTTPError

    model = models.notebook_model("a.ipynb", size=1, last_modified=T0)
    with pytest.raises(HTTPError):
        validate_model(model, expect_content=False, expect_hash=True)


# --- decoding ------------------------------------------------------------------


def test_decode_text_by_default():
    assert models.decode_file("héllo\n".encode(), None, "a.txt") == (
        "héllo\n",
        "text",
        "text/plain",
    )


def test_decode_falls_back_to_base64():
    data = b"\x89PNG\r\n\x1a\n\xff"
    content, fmt, mimetype = models.decode_file(data, None, "noext")
    assert fmt == "base64"
    assert base64.b64decode(content) == data
    assert content == base64.encodebytes(data).decode("ascii")
    assert mimetype == "application/octet-stream"


def test_decode_text_keeps_the_guessed_mimetype():
    assert models.decode_file(b"{}", "text", "x.json")[2] == mimetypes.guess_type("x.json")[0]


def test_decode_base64_on_request_even_for_text():
    content, fmt, mimetype = models.decode_file(b"abc", "base64", "a.txt")
    assert (content, fmt) == ("YWJj\n", "base64")
    assert mimetype == "text/plain"


def test_decode_base64_wraps_lines_like_the_reference():
    content, _, _ = models.decode_file(bytes(100), "base64", "zeros")
    assert content.count("\n") == 2  # 136 characters: 76 + 60, each line ended


def test_decode_text_of_non_utf8_is_bad_content():
    with pytest.raises(BadContent, match=r"^dir/a\.txt is not UTF-8 encoded$"):
        models.decode_file(b"caf\xe9", "text", "dir/a.txt")


def test_decode_empty_file():
    assert models.decode_file(b"", None, "empty") == ("", "text", "text/plain")


@given(st.binary(max_size=300), st.sampled_from([None, "text", "base64"]))
def test_decode_round_trips_through_encode(data, fmt):
    try:
        content, chosen, _ = models.decode_file(data, fmt, "f")
    except BadContent:
        assert fmt == "text"
        return
    encoded, _ = models.encode_for_save({"type": "file", "format": chosen, "content": content}, "f")
    assert encoded == data


# --- notebooks -----------------------------------------------------------------


def test_read_notebook():
    nb = models.read_notebook(_nb_bytes(), "a.ipynb")
    assert nb.nbformat == 4
    assert nb.cells[0].source == "print('ü')"


def test_read_notebook_converts_to_v4():
    v3 = nbformat.v3.new_notebook(worksheets=[nbformat.v3.new_worksheet()])
    nb = models.read_notebook(nbformat.v3.writes_json(v3).encode(), "old.ipynb")
    assert nb.nbformat == 4


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"null",
        b"[1, 2]",
        b'{"nbformat": "x"}',
        b'{"nbformat": 99, "nbformat_minor": 0}',
        b'{"nbformat": 4, "nbformat_minor": 5}',  # no cells: a ValidationError nbformat raises
    ],
)
def test_unreadable_notebooks(data):
    with pytest.raises(BadContent, match=r"^Unreadable Notebook: d/a\.ipynb "):
        models.read_notebook(data, "d/a.ipynb")


def test_non_utf8_notebook_is_bad_content():
    with pytest.raises(BadContent, match="is not UTF-8 encoded"):
        models.read_notebook(b'{"x": "\xff"}', "a.ipynb")


def test_invalid_notebook_schema_is_captured_not_raised():
    raw = json.loads(_nb_bytes())
    raw["cells"][0]["bogus"] = 1
    captured: dict = {}
    nb = models.read_notebook(
        json.dumps(raw).encode(), "a.ipynb", capture_validation_error=captured
    )
    assert nb.nbformat == 4
    assert "ValidationError" in captured


# --- encoding for save ---------------------------------------------------------


def test_encode_notebook_matches_nbformat_write(tmp_path):
    nb = nbformat.reads(_nb_bytes(), as_version=4)
    data, content_type = models.encode_for_save({"type": "notebook", "content": nb}, "a.ipynb")
    nbformat.write(nb, tmp_path / "ref.ipynb", version=nbformat.NO_CONVERT)
    assert data == (tmp_path / "ref.ipynb").read_bytes()
    assert content_type == "application/x-ipynb+json"
    assert models.read_notebook(data, "a.ipynb") == nb


def test_encode_notebook_from_plain_json_dict():
    raw = json.loads(_nb_bytes())
    data, _ = models.encode_for_save({"type": "notebook", "content": raw}, "a.ipynb")
    assert json.loads(data) == raw
    assert data.endswith(b"\n")


@pytest.mark.parametrize("content", ["x", [1], {"nbformat": 99}, {"nbformat": 4}])
def test_encode_unwritable_notebook(content):
    with pytest.raises(BadContent, match=r"^Unwritable Notebook: a\.ipynb "):
        models.encode_for_save({"type": "notebook", "content": content}, "a.ipynb")


def test_encode_text():
    data, content_type = models.encode_for_save(
        {"type": "file", "format": "text", "content": "ü\n"}, "a.txt"
    )
    assert data == "ü\n".encode()
    assert content_type == "text/plain"
    _, content_type = models.encode_for_save(
        {"type": "file", "format": "text", "content": ""}, "noext"
    )
    assert content_type == "text/plain"


def test_encode_base64():
    data, content_type = models.encode_for_save(
        {"type": "file", "format": "base64", "content": "AAEC/w=="}, "blob"
    )
    assert data == b"\x00\x01\x02\xff"
    assert content_type == "application/octet-stream"
    _, content_type = models.encode_for_save(
        {"type": "file", "format": "base64", "content": ""}, "x.png"
    )
    assert content_type == "image/png"


def test_encode_base64_tolerates_line_breaks():
    data = bytes(range(256)) * 3
    wrapped = base64.encodebytes(data).decode().replace("\n", "\r\n")
    encoded, _ = models.encode_for_save(
        {"type": "file", "format": "base64", "content": wrapped}, "b"
    )
    assert encoded == data


@pytest.mark.parametrize("bad", ["abc", "ab!d", "AAEC/w==AA", "data:;base64,AAAA", "ü===", "AA AA"])
def test_encode_bad_base64(bad):
    with pytest.raises(BadContent, match="Encoding error saving dir/b"):
        models.encode_for_save({"type": "file", "format": "base64", "content": bad}, "dir/b")


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"type": "file", "format": "text"}, "No file content provided"),
        ({"type": "file", "format": "text", "content": None}, "No file content provided"),
        ({"type": "notebook"}, "No file content provided"),
        ({"type": "file", "content": "x"}, "Must specify format"),
        ({"type": "file", "format": "json", "content": "x"}, "Must specify format"),
        ({"type": "directory", "content": "x"}, "Unhandled contents type"),
        ({"content": "x"}, "Unhandled contents type"),
        ({"type": "file", "format": "text", "content": 3}, "must be a string"),
        ({"type": "file", "format": "text", "content": "\ud800"}, "Encoding error"),
    ],
)
def test_encode_refuses(model, message):
    with pytest.raises(BadContent, match=message):
        models.encode_for_save(model, "x")


# --- listings ------------------------------------------------------------------


def obj(key, size=1, when=T0, etag="e"):
    return ListedObject(key=key, size=size, etag=etag, last_modified=when)


def listing(dir_path, objects, prefixes, prefix="p", **kwargs):
    kwargs.setdefault("allow_hidden", False)
    kwargs.setdefault("hide_globs", [])
    return models.directory_listing(dir_path, objects, prefixes, KeyMap(prefix), **kwargs)


def names(entries):
    return [(m["name"], m["type"]) for m in entries]


def test_listing_files_notebooks_and_folders():
    entries = listing(
        "d",
        [obj("p/d/", size=0), obj("p/d/a.ipynb", size=10), obj("p/d/b.txt", size=3, when=T1)],
        ["p/d/sub/"],
    )
    assert names(entries) == [("a.ipynb", "notebook"), ("b.txt", "file"), ("sub", "directory")]
    for model in entries:
        validate_model(model, expect_content=False, expect_hash=False)
        _check_types(model)
    notebook, text, folder = entries
    assert (notebook["path"], notebook["size"], notebook["mimetype"]) == ("d/a.ipynb", 10, None)
    assert (text["path"], text["size"], text["last_modified"]) == ("d/b.txt", 3, T1)
    assert text["mimetype"] == "text/plain"
    assert (folder["path"], folder["size"], folder["last_modified"]) == (
        "d/sub",
        None,
        models.EPOCH,
    )


def test_listing_skips_the_folders_own_marker():
    assert listing("d", [obj("p/d/", size=0)], []) == []
    assert listing("", [obj("p/", size=0)], []) == []  # the root marker under a prefix


def test_listing_of_the_bucket_root():
    entries = listing("", [obj("x.txt")], ["dir/"], prefix="")
    assert [(m["path"], m["type"]) for m in entries] == [("dir", "directory"), ("x.txt", "file")]


def test_checkpoint_holders_are_not_folders():
    entries = listing(
        "",
        [obj("p/a.ipynb"), obj("p/b.txt")],
        ["p/a.ipynb/", "p/b.txt/", "p/c/"],
    )
    assert names(entries) == [("a.ipynb", "notebook"), ("b.txt", "file"), ("c", "directory")]


def test_checkpoint_keys_in_a_flat_listing_are_skipped():
    entries = listing(
        "",
        [obj("p/a.ipynb"), obj("p/a.ipynb/.checkpoints/20261126T100000000000-ab")],
        [],
        allow_hidden=True,
    )
    assert names(entries) == [("a.ipynb", "notebook")]


def test_checkpoints_folder_is_never_listed():
    """Inside an orphan checkpoint holder, `.checkpoints` is not a name."""
    entries = listing("a.ipynb", [], ["p/a.ipynb/.checkpoints/"], allow_hidden=True)
    assert entries == []


def test_implicit_folders_and_marker_objects():
    entries = listing(
        "",
        [obj("p/marked/", size=0, when=T1), obj("p/deep/x/y.txt")],
        ["p/implicit/", "p/marked/"],
    )
    assert names(entries) == [
        ("deep", "directory"),
        ("implicit", "directory"),
        ("marked", "directory"),
    ]
    assert entries[2]["last_modified"] == T1  # from its marker object
    assert entries[1]["last_modified"] == models.EPOCH


def test_listing_default_time():
    entries = listing("", [], ["p/x/"], default_time=T1)
    assert entries[0]["last_modified"] == T1
    assert entries[0]["created"] == T1


def test_hidden_names():
    objects = [obj("p/.env"), obj("p/visible")]
    prefixes = ["p/.git/", "p/src/"]
    assert names(listing("", objects, prefixes)) == [("src", "directory"), ("visible", "file")]
    shown = listing("", objects, prefixes, allow_hidden=True)
    assert names(shown) == [
        (".env", "file"),
        (".git", "directory"),
        ("src", "directory"),
        ("visible", "file"),
    ]


def test_hide_globs_apply_even_with_allow_hidden():
    globs = ["__pycache__", "*.pyc", "*.pyo", ".DS_Store", "*~"]
    objects = [obj("p/a.py"), obj("p/a.pyc"), obj("p/.DS_Store"), obj("p/a.txt~")]
    entries = listing("", objects, ["p/__pycache__/"], allow_hidden=True, hide_globs=globs)
    assert names(entries) == [("a.py", "file")]


def test_unaddressable_names_are_skipped():
    objects = [obj("p/ok"), obj("p/a\\b"), obj("p/tab\there"), obj("p/..")]
    prefixes = ["p//", "p/./", "p/../"]
    assert names(listing("", objects, prefixes, allow_hidden=True)) == [("ok", "file")]


def test_unicode_and_awkward_names():
    awkward = "ü 日本 😀 %20+=&?#~:,'!*$@;()"
    entries = listing(
        "dir ü", [obj(f"p/dir ü/{awkward}.ipynb")], [f"p/dir ü/{awkward}/"], hide_globs=["*~"]
    )
    assert [(m["path"], m["type"]) for m in entries] == [
        (f"dir ü/{awkward}.ipynb", "notebook"),  # "." sorts before "/"
        (f"dir ü/{awkward}", "directory"),
    ]


def test_listing_follows_s3_byte_order():
    # "a!" < "a/" < "a0" in UTF-8: the folder "a" sorts between them, as S3 lists it.
    entries = listing("", [obj("p/a0"), obj("p/a!"), obj("p/é"), obj("p/Z")], ["p/a/"])
    assert [m["name"] for m in entries] == ["Z", "a!", "a", "a0", "é"]


def test_stray_keys_outside_the_folder_are_ignored():
    assert listing("d", [obj("p/other")], ["p/elsewhere/"]) == []


def test_listing_writable_flag():
    entries = listing("", [obj("p/f")], ["p/d/"], writable=False)
    assert [m["writable"] for m in entries] == [False, False]


@given(st.lists(strategies.api_path_segments(), max_size=8), st.booleans())
def test_listing_models_always_validate(children, as_folders):
    objects = [] if as_folders else [obj(f"p/d/{name}") for name in children]
    prefixes = [f"p/d/{name}/" for name in children] if as_folders else []
    entries = listing("d", objects, prefixes, allow_hidden=True)
    assert sorted(m["name"] for m in entries) == sorted(set(children))
    for model in entries:
        validate_model(model, expect_content=False, expect_hash=False)
        assert model["path"] == f"d/{model['name']}"


def test_listing_shows_the_save_time_known_for_the_listed_version():
    saved = T0 + timedelta(microseconds=123456)
    known = {("a.txt", "e1"): saved}

    def saved_time(path, etag):
        return known.get((path, etag))

    entries = listing(
        "",
        [obj("p/a.txt", etag="e1"), obj("p/b.txt", etag="e2"), obj("p/c.txt", etag="other")],
        [],
        saved_time=saved_time,
    )
    times = {e["name"]: (e["last_modified"], e["created"]) for e in entries}
    assert times["a.txt"] == (saved, saved)  # what get() of that version answers
    assert times["b.txt"] == (T0, T0)  # S3's Last-Modified otherwise
    assert times["c.txt"] == (T0, T0)


@given(st.binary(max_size=3 * 57 * 1024 + 200))
def test_base64_lines_is_exactly_what_the_reference_sends(data):
    """The reference's ``base64.encodebytes`` text, built a block at a time."""
    assert models._base64_lines(data) == base64.encodebytes(data).decode("ascii")
