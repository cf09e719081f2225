"""Conformance: the same REST scenarios against the reference and against JupyterS3.

The *reference* is jupyter_server's own local-disk manager; *JupyterS3* runs on a
real moto S3 server. Each test sends the same requests to both live servers and
demands the same status codes and equivalent models; each works in a fresh folder
with the same uuid name on both servers (fixture ``c``); read-only scenarios share
one folder seeded once (fixture ``ro``). conformance_harness.py holds the harness
(how both servers are set up, :class:`Conformance`, ``normalise``); e2e/conftest.py
the two servers (``sides``) and ``c``. The rename scenarios are in test_renames.py,
with the other rename tests.

What is deliberately *not* compared: times and ``writable`` (presence only),
``hash`` values (sha256 vs ETag: presence only), folder ``size``, checkpoint ids
(the reference always uses ``"checkpoint"``), error messages (only status codes),
and behaviours where the
reference answers 500 (not a contract) or where S3 must differ (folders that exist
only implicitly, several checkpoints per file).
"""

from __future__ import annotations

import base64
import copy
import json
import unicodedata
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from conformance_harness import (
    BINARY,
    NOTEBOOK,
    NOTEBOOK_2,
    TEXT,
    Conformance,
    Side,
    b64,
    summary,
)

from jupyters3_testing import ContentsClient, Response

# ============================================================================
# get (read-only scenarios share one folder, seeded once)
# ============================================================================

OLD_NOTEBOOK = {
    "cells": [{"cell_type": "code", "execution_count": 1, "metadata": {}, "outputs": [],
               "source": ["1 + 1"]}],
    "metadata": {},
    "nbformat": 4,
    "nbformat_minor": 2,
}  # fmt: skip


@pytest.fixture(scope="module")
def ro(sides: tuple[Side, Side]) -> Conformance:
    """A folder seeded once for the read-only scenarios (they must not change it)."""
    ref, s3 = sides
    r = Conformance(ref, s3, f"readonly-{uuid.uuid4().hex[:12]}")
    r.expect("set-up: the read-only folder", 201, "mkdir", r.base)
    r.text("a.txt")
    r.binary("blob.dat")
    r.notebook("nb.ipynb")
    r.text("README")
    r.text("page.html", "<p>hi</p>")
    r.text("data.json", '{"a": 1}')
    r.mkdir("dir")
    r.text("dir/a.txt")
    r.binary("dir/b.dat")
    r.notebook("dir/c.ipynb")
    r.mkdir("dir/sub")
    r.mkdir("dir/sub/deeper")
    r.text("dir/sub/deeper/x.txt")
    r.mkdir("dir/empty")
    r.seed_raw(
        {
            "empty.txt": b"",
            "old.ipynb": json.dumps(OLD_NOTEBOOK).encode(),  # by another tool: unsigned, 4.2
            "broken.ipynb": b"{not json",
            "latin1.ipynb": "é".encode("latin-1"),
            "globs/__pycache__/m.cpython-311.pyc": b"\0",
            "globs/mod.pyc": b"\0",
            "globs/mod.pyo": b"\0",
            "globs/notes.txt~": b"backup",
            "globs/.DS_Store": b"\0",
            "globs/kept.py": b"print(1)\n",
            "hid/.hidden.txt": b"hidden",
            "hid/.hidden_dir/visible.txt": b"in a hidden folder",
            "hid/visible.txt": b"visible",
            "hid/sub/.inner": b"hidden in sub",
        },
        folders=("globs", "globs/__pycache__", "hid", "hid/.hidden_dir", "hid/sub"),
    )
    return r


GET_VARIANTS = {
    "default": {},
    "content=0": {"content": False},
    "format=text": {"format": "text"},
    "format=base64": {"format": "base64"},
    "type=file": {"type": "file"},
    "type=file,content=0": {"type": "file", "content": False},
    "type=bogus": {"type": "bogus"},  # the handler falls back to "file"
}


@pytest.mark.parametrize("query", GET_VARIANTS.values(), ids=GET_VARIANTS.keys())
def test_get_text_file(ro: Conformance, query: dict[str, Any]) -> None:
    ro.expect("get a text file", 200, "get", ro.p("a.txt"), **query)


@pytest.mark.parametrize("query", GET_VARIANTS.values(), ids=GET_VARIANTS.keys())
def test_get_binary_file(ro: Conformance, query: dict[str, Any]) -> None:
    ro.same("get a binary file (format=text is a 400)", "get", ro.p("blob.dat"), **query)


@pytest.mark.parametrize("name", ["README", "page.html", "data.json", "empty.txt"])
def test_get_file_mimetypes(ro: Conformance, name: str) -> None:
    ro.expect(f"get {name}", 200, "get", ro.p(name))
    ro.expect(f"get {name} without content", 200, "get", ro.p(name), content=False)


NOTEBOOK_VARIANTS = {
    "default": {},
    "content=0": {"content": False},
    "type=notebook": {"type": "notebook"},
    "type=notebook,content=0": {"type": "notebook", "content": False},
    "type=file": {"type": "file"},
    "type=file,format=base64": {"type": "file", "format": "base64"},
    "format=text": {"format": "text"},  # ignored for notebooks
}


@pytest.mark.parametrize("query", NOTEBOOK_VARIANTS.values(), ids=NOTEBOOK_VARIANTS.keys())
def test_get_notebook(ro: Conformance, query: dict[str, Any]) -> None:
    ro.expect("get a notebook", 200, "get", ro.p("nb.ipynb"), **query)


def test_get_notebook_written_by_another_tool(ro: Conformance) -> None:
    """Not signed by this server, nbformat 4.2 (no cell ids)."""
    ro.expect("get an old notebook", 200, "get", ro.p("old.ipynb"))


def test_get_invalid_notebook_content(ro: Conformance) -> None:
    ro.expect("get an unreadable notebook", 400, "get", ro.p("broken.ipynb"))
    ro.expect("get a non-UTF-8 notebook", 400, "get", ro.p("latin1.ipynb"))
    ro.expect("get it as a file", 200, "get", ro.p("broken.ipynb"), type="file")


DIR_VARIANTS = {
    "default": {},
    "content=0": {"content": False},
    "type=directory": {"type": "directory"},
    "type=directory,content=0": {"type": "directory", "content": False},
    "format=base64": {"format": "base64"},  # ignored for folders
}


@pytest.mark.parametrize("query", DIR_VARIANTS.values(), ids=DIR_VARIANTS.keys())
def test_get_directory(ro: Conformance, query: dict[str, Any]) -> None:
    ro.expect("list a folder", 200, "get", ro.p("dir"), **query)
    ro.expect("list an empty folder", 200, "get", ro.p("dir/empty"), **query)


def test_listing_applies_hide_globs(ro: Conformance) -> None:
    ro.expect("list a folder with hide_globs matches", 200, "get", ro.p("globs"))


TYPE_MISMATCH = {
    "folder?type=file": ("dir", "file"),
    "folder?type=notebook": ("dir", "notebook"),
    "file?type=directory": ("a.txt", "directory"),
    "notebook?type=directory": ("nb.ipynb", "directory"),
    "text file?type=notebook": ("a.txt", "notebook"),
}


@pytest.mark.parametrize("target,type_", TYPE_MISMATCH.values(), ids=TYPE_MISMATCH.keys())
def test_get_type_mismatch(ro: Conformance, target: str, type_: str) -> None:
    ro.expect("get with the wrong type", 400, "get", ro.p(target), type=type_)


MISSING = {
    "file": ("nope.txt", {}),
    "notebook": ("nope.ipynb", {}),
    "content=0": ("nope.txt", {"content": False}),
    "hash=1": ("nope.txt", {"hash": True}),
    "type=directory": ("nope", {"type": "directory"}),
    "type=notebook": ("nope.ipynb", {"type": "notebook"}),
    "in a missing folder": ("no/such/file.txt", {}),
}  # not "a.txt/child.txt": the reference answers 500 (NotADirectoryError)


@pytest.mark.parametrize("target,query", MISSING.values(), ids=MISSING.keys())
def test_get_missing(ro: Conformance, target: str, query: dict[str, Any]) -> None:
    ro.expect("get something missing", 404, "get", ro.p(target), **query)


HASH_CASES = {
    "text": ("a.txt", {}),
    "text,content=0": ("a.txt", {"content": False}),
    "text,format=base64": ("a.txt", {"format": "base64"}),
    "binary": ("blob.dat", {}),
    "notebook": ("nb.ipynb", {}),
    "notebook,content=0": ("nb.ipynb", {"content": False}),
    "notebook,type=file": ("nb.ipynb", {"type": "file"}),
}


@pytest.mark.parametrize("target,query", HASH_CASES.values(), ids=HASH_CASES.keys())
def test_get_hash(ro: Conformance, target: str, query: dict[str, Any]) -> None:
    ref, s3 = ro.same("get with hash=1", "get", ro.p(target), hash=True, **query)
    assert ref.status == 200
    for resp in (ref, s3):
        assert isinstance(resp.json["hash"], str) and resp.json["hash"]
        assert isinstance(resp.json["hash_algorithm"], str) and resp.json["hash_algorithm"]
    ro.expect("get with hash=0", 200, "get", ro.p(target), hash=False, **query)


def test_get_directory_with_hash(ro: Conformance) -> None:
    """Folders have no hash: both managers fail the handler's validation the same way."""
    ro.same("get a folder with hash=1", "get", ro.p("dir"), hash=True)


BAD_QUERIES = {
    "format=xml": {"format": "xml"},
    "content=2": {"content": 2},
    "hash=yes": {"hash": "yes"},
}


@pytest.mark.parametrize("query", BAD_QUERIES.values(), ids=BAD_QUERIES.keys())
def test_get_bad_query(ro: Conformance, query: dict[str, Any]) -> None:
    url = ro.ref.client.contents_path(ro.p("a.txt"))  # the same on both servers
    ref, s3 = ro.both("request", "GET", url, params=query)
    ro.compare("get with an invalid query argument", ref, s3)
    assert ref.status == 400


def test_hidden_excluded_from_listing(ro: Conformance) -> None:
    ro.expect("list a folder with hidden entries", 200, "get", ro.p("hid"))
    ro.expect("list a subfolder with a hidden file", 200, "get", ro.p("hid/sub"))


HIDDEN_GETS = {
    "hidden file": "hid/.hidden.txt",
    "file in hidden folder": "hid/.hidden_dir/visible.txt",
    "hidden folder": "hid/.hidden_dir",
    "missing hidden file": "hid/.nope",
}


@pytest.mark.parametrize("target", HIDDEN_GETS.values(), ids=HIDDEN_GETS.keys())
def test_get_hidden(ro: Conformance, target: str) -> None:
    ro.expect("get a hidden path", 404, "get", ro.p(target))
    ro.expect("get it without content", 404, "get", ro.p(target), content=False)


FILES_CASES = {
    "text": ("a.txt", False),
    "text, download": ("a.txt", True),
    "binary": ("blob.dat", False),
    "notebook": ("nb.ipynb", False),
    "notebook, download": ("nb.ipynb", True),
    "missing": ("nope.txt", False),
    "hidden": ("hid/.hidden.txt", False),
}  # not a folder: the reference's StaticFileHandler answers 403, JupyterS3 404


@pytest.mark.parametrize("name,download", FILES_CASES.values(), ids=FILES_CASES.keys())
def test_files_endpoint(ro: Conformance, name: str, download: bool) -> None:
    """``GET /files/<path>``: status, bytes, Content-Type and Content-Disposition."""
    ref, s3 = ro.both("files", ro.p(name), download=download)
    assert ref.status == s3.status, f"/files/{name}: {summary(ref)} vs {summary(s3)}"
    if ref.ok:
        assert s3.body == ref.body
        assert s3.headers.get_content_type() == ref.headers.get_content_type()
        disposition = [r.headers.get("Content-Disposition") for r in (ref, s3)]
        attachment = ["attachment" in (d or "") for d in disposition]
        assert attachment[1] == attachment[0], f"Content-Disposition: {disposition}"


def test_get_root_without_content(ro: Conformance) -> None:
    ro.expect("get the root", 200, "get", "", content=False)
    ro.expect("get the root as a folder", 200, "get", "", content=False, type="directory")


def test_hash_follows_the_content(c: Conformance) -> None:
    """Both managers: the hash changes when the bytes change, not when they are rewritten."""
    c.text("a.txt", "one")
    first = c.both("get", c.p("a.txt"), content=False, hash=True)
    c.text("a.txt", "one")
    same = c.both("get", c.p("a.txt"), content=False, hash=True)
    c.text("a.txt", "two")
    changed = c.both("get", c.p("a.txt"), content=False, hash=True)
    for side, a, b, d in zip(("reference", "jupyters3"), first, same, changed, strict=True):
        assert a.json["hash"] == b.json["hash"] != d.json["hash"], side


# ============================================================================
# save / new
# ============================================================================


def test_save_text_file(c: Conformance) -> None:
    c.expect("create", 201, "save_text", c.p("a.txt"), TEXT)
    c.expect("read back", 200, "get", c.p("a.txt"))
    c.expect("overwrite", 200, "save_text", c.p("a.txt"), "replaced\r\nwith CRLF")
    c.expect("read back", 200, "get", c.p("a.txt"))
    c.expect("empty it", 200, "save_text", c.p("a.txt"), "")
    c.expect("read back", 200, "get", c.p("a.txt"))


def test_save_base64_file(c: Conformance) -> None:
    model = {"type": "file", "format": "base64", "content": b64(BINARY)}
    c.expect("create", 201, "save", c.p("blob.dat"), model)
    c.expect("read back", 200, "get", c.p("blob.dat"))
    wrapped = {**model, "content": base64.encodebytes(BINARY[:100]).decode("ascii")}
    c.expect("overwrite (base64 with newlines)", 200, "save", c.p("blob.dat"), wrapped)
    c.expect("read back", 200, "get", c.p("blob.dat"), format="base64")
    utf8 = {**model, "content": b64("plain é".encode())}
    c.expect("base64 of UTF-8 text", 201, "save", c.p("text.bin"), utf8)
    c.expect("read back (text by default)", 200, "get", c.p("text.bin"))


def test_save_notebook(c: Conformance) -> None:
    model = {"type": "notebook", "format": "json", "content": NOTEBOOK}
    c.expect("create", 201, "save", c.p("nb.ipynb"), model)
    c.expect("read back", 200, "get", c.p("nb.ipynb"))
    c.expect("overwrite", 200, "save", c.p("nb.ipynb"), {**model, "content": NOTEBOOK_2})
    c.expect("read back", 200, "get", c.p("nb.ipynb"))
    c.expect("read back as a file", 200, "get", c.p("nb.ipynb"), type="file")


def test_save_notebook_with_another_extension(c: Conformance) -> None:
    model = {"type": "notebook", "format": "json", "content": NOTEBOOK}
    c.expect("save a notebook as .json", 201, "save", c.p("nb.json"), model)
    c.expect("get it (a file by its name)", 200, "get", c.p("nb.json"))
    c.expect("get it as a notebook", 200, "get", c.p("nb.json"), type="notebook")


def test_save_file_with_notebook_extension(c: Conformance) -> None:
    """A text file saved under a ``.ipynb`` name: the answer describes it as ``get`` will."""
    c.expect("save text as .ipynb", 201, "save_text", c.p("text.ipynb"), "not a notebook")
    c.expect("get it without content", 200, "get", c.p("text.ipynb"), content=False)
    c.expect("get it as a file", 200, "get", c.p("text.ipynb"), type="file")


def test_save_invalid_notebook_gives_a_message(c: Conformance) -> None:
    invalid = copy.deepcopy(NOTEBOOK)
    invalid["cells"][0]["bogus_field"] = 1
    model = {"type": "notebook", "format": "json", "content": invalid}
    c.expect("save a schema-invalid notebook", 201, "save", c.p("nb.ipynb"), model)
    c.expect("read it back", 200, "get", c.p("nb.ipynb"))


def test_save_directory(c: Conformance) -> None:
    c.expect("create", 201, "mkdir", c.p("dir"))
    c.expect("create again (existing folder)", 201, "mkdir", c.p("dir"))
    c.expect("list it", 200, "get", c.p("dir"))
    c.expect("nested", 201, "mkdir", c.p("dir/sub"))
    c.expect("list the parent", 200, "get", c.p("dir"))


NEW_MODELS = {
    "notebook": ("new.ipynb", {"type": "notebook"}),
    "file": ("new.txt", {"type": "file"}),
    "no type, .ipynb": ("new.ipynb", {"format": "json"}),
    "unknown type": ("new.txt", {"type": "weird", "format": "text", "content": "x"}),
}


@pytest.mark.parametrize("name,model", NEW_MODELS.values(), ids=NEW_MODELS.keys())
def test_put_new_without_content(c: Conformance, name: str, model: dict[str, Any]) -> None:
    """PUT to a new path: the handler calls ``new()``, which fills in empty content."""
    ref, _ = c.same("PUT a new path", "save", c.p(name), model)
    if ref.ok:
        c.expect("read it back", 200, "get", c.p(name))


def test_put_empty_body(c: Conformance) -> None:
    """An empty JSON body means "new untitled in this folder"."""
    c.expect("PUT {} to a folder", 201, "save", c.base, {})
    c.expect("PUT {} to a missing path", 404, "save", c.p("nope.txt"), {})
    c.expect("the folder", 200, "get", c.base)


SAVE_ERRORS = {
    "no type": {"format": "text", "content": "x"},
    "no content": {"type": "file", "format": "text"},
    "no format": {"type": "file", "content": "x"},
    "bad format": {"type": "file", "format": "xml", "content": "x"},
    "bad base64": {"type": "file", "format": "base64", "content": "%%% not base64 %%%"},
    "text is not a string": {"type": "file", "format": "text", "content": 42},
    "copy_from": {"copy_from": "whatever.txt"},
    "notebook without content": {"type": "notebook", "format": "json"},
}


@pytest.mark.parametrize("model", SAVE_ERRORS.values(), ids=SAVE_ERRORS.keys())
def test_save_errors_on_existing_file(c: Conformance, model: dict[str, Any]) -> None:
    """PUT to an existing path calls ``save()`` directly: every one of these is a 400."""
    c.text("x.txt")
    c.expect("save an invalid model", 400, "save", c.p("x.txt"), model)
    c.expect("the file is unchanged", 200, "get", c.p("x.txt"))


@pytest.mark.parametrize("model", SAVE_ERRORS.values(), ids=SAVE_ERRORS.keys())
def test_save_errors_on_new_path(c: Conformance, model: dict[str, Any]) -> None:
    """PUT to a new path goes through ``new()``, which fills in a type and empty content."""
    c.same("PUT the model to a new path", "save", c.p("x.txt"), model)
    c.same("what exists afterwards", "get", c.p("x.txt"))


def test_save_directory_over_a_file(c: Conformance) -> None:
    c.text("a.txt")
    c.expect("PUT a folder where a file is", 400, "mkdir", c.p("a.txt"))
    c.expect("the file is still there", 200, "get", c.p("a.txt"))


def test_chunked_upload(c: Conformance) -> None:
    data = bytes(range(256)) * 12 + b"tail"  # 3076 bytes: chunks 1, 2, 3, -1 of 1 KiB
    ref = c.ref.client.upload_chunked(c.p("up.bin"), data, chunk_size=1024)
    s3 = c.s3.client.upload_chunked(c.p("up.bin"), data, chunk_size=1024)
    # The path exists from the first chunk on in both (JupyterS3 writes the object
    # at -1, but answers for the upload in progress), so: 201, then 200s.
    assert [r.status for r in ref] == [r.status for r in s3] == [201, 200, 200, 200]
    c.compare_body("the last chunk's model", ref[-1], s3[-1])
    c.expect("read it back", 200, "get", c.p("up.bin"), format="base64")
    ref_data, s3_data = c.both("get", c.p("up.bin"), format="base64")
    assert base64.b64decode(s3_data.json["content"]) == data
    assert base64.b64decode(ref_data.json["content"]) == data


def test_chunked_upload_replaces_a_file(c: Conformance) -> None:
    c.text("up.txt", "old")
    data = b"0123456789" * 250  # 2500 bytes: chunks 1, 2, -1 of 1 KiB
    ref = c.ref.client.upload_chunked(c.p("up.txt"), data, chunk_size=1024)
    s3 = c.s3.client.upload_chunked(c.p("up.txt"), data, chunk_size=1024)
    c.compare("the last chunk's answer", ref[-1], s3[-1])
    c.expect("read it back", 200, "get", c.p("up.txt"))


def test_answers_carry_the_time_get_reports(c: Conformance) -> None:
    """Each manager's own consistency (the reference's save/rename/copy answer with
    ``get(content=False)``): RTC and JupyterLab compare these times."""
    text = {"type": "file", "format": "text", "content": "x"}
    notebook = {"type": "notebook", "format": "json", "content": NOTEBOOK}
    c.mkdir("dir")
    steps: dict[str, Callable[[ContentsClient], Response]] = {
        "save new": lambda cl: cl.save(c.p("a.txt"), text),
        "save again": lambda cl: cl.save(c.p("a.txt"), text),
        "save notebook": lambda cl: cl.save(c.p("nb.ipynb"), notebook),
        "rename": lambda cl: cl.rename(c.p("a.txt"), c.p("b.txt")),
        "copy": lambda cl: cl.copy(c.p("b.txt"), c.base),
        "mkdir": lambda cl: cl.mkdir(c.p("new dir")),
        "mkdir existing": lambda cl: cl.mkdir(c.p("dir")),
        "copy folder": lambda cl: cl.copy(c.p("dir"), c.base),
        "rename folder": lambda cl: cl.rename(c.p("dir-Copy1"), c.p("moved")),
    }
    # A folder's time on S3 is its marker's Last-Modified from LIST (set by S3, one
    # second resolution); the answer to mkdir or a folder copy carries the server's
    # clock instead of paying a HEAD for it. Folders' times matter to no client.
    s3_folder_answers = {"mkdir", "mkdir existing", "copy folder"}
    mismatches = []
    for side in (c.ref, c.s3):
        for what, step in steps.items():
            answer = step(side.client)
            assert answer.ok, f"{side.label} {what}: {summary(answer)}"
            later = side.client.get(answer.json["path"], content=False).json
            if side is c.s3 and what in s3_folder_answers:
                continue
            if answer.json["last_modified"] != later["last_modified"]:
                mismatches.append(
                    f"{side.label} {what}: answered {answer.json['last_modified']}, "
                    f"get() says {later['last_modified']}"
                )
    assert not mismatches, "\n".join(mismatches)


# ============================================================================
# new_untitled
# ============================================================================

UNTITLED = {
    "notebook": ({"type": "notebook"}, 3),
    "file": ({"type": "file"}, 3),
    "file .txt": ({"type": "file", "ext": ".txt"}, 3),
    "file .tar.gz": ({"type": "file", "ext": ".tar.gz"}, 2),
    "directory": ({"type": "directory"}, 3),
    "ext .ipynb, no type": ({"ext": ".ipynb"}, 2),
    "no type, no ext": ({}, 2),
    "unknown type": ({"type": "weird"}, 2),
}


@pytest.mark.parametrize("kwargs,count", UNTITLED.values(), ids=UNTITLED.keys())
def test_new_untitled_sequence(c: Conformance, kwargs: dict[str, Any], count: int) -> None:
    """Untitled, Untitled1, Untitled2 ... (``Untitled Folder 1`` for folders)."""
    for i in range(count):
        c.expect(f"new untitled #{i}", 201, "new_untitled", c.base, **kwargs)
    c.expect("the folder", 200, "get", c.base)


def test_new_untitled_content(c: Conformance) -> None:
    for kwargs in ({"type": "notebook"}, {"type": "file", "ext": ".py"}):
        ref, _ = c.same("new untitled", "new_untitled", c.base, **kwargs)
        c.expect("its content", 200, "get", ref.json["path"])


def test_new_untitled_fills_gaps(c: Conformance) -> None:
    for _ in range(3):
        c.expect("new untitled notebook", 201, "new_untitled", c.base, type="notebook")
    c.expect("delete the first", 204, "delete", c.p("Untitled.ipynb"))
    c.expect("the free name is reused", 201, "new_untitled", c.base, type="notebook")
    c.expect("then the next free one", 201, "new_untitled", c.base, type="notebook")


def test_new_untitled_skips_names_taken_by_other_kinds(c: Conformance) -> None:
    c.mkdir("untitled")  # a folder where the file would go
    c.text("Untitled Folder")  # a file where the folder would go
    c.expect("new untitled file", 201, "new_untitled", c.base, type="file")
    c.expect("new untitled folder", 201, "new_untitled", c.base, type="directory")


def test_new_untitled_in_subfolder(c: Conformance) -> None:
    c.mkdir("sub é")
    c.expect("new untitled in a subfolder", 201, "new_untitled", c.p("sub é"), type="notebook")
    c.expect("list it", 200, "get", c.p("sub é"))


def test_new_untitled_in_missing_folder(c: Conformance) -> None:
    c.expect("new untitled in a missing folder", 404, "new_untitled", c.p("nope"), type="file")
    c.expect("nothing was created", 404, "get", c.p("nope"))


def test_post_to_a_file(c: Conformance) -> None:
    c.text("a.txt")
    c.expect("POST to a file path", 400, "new_untitled", c.p("a.txt"), type="file")


# ============================================================================
# copy
# ============================================================================


def test_copy_file_in_place(c: Conformance) -> None:
    c.text("a.txt")
    c.expect("copy next to itself", 201, "copy", c.p("a.txt"), c.base)
    c.expect("again", 201, "copy", c.p("a.txt"), c.base)
    c.expect("copy of a copy", 201, "copy", c.p("a-Copy2.txt"), c.base)
    c.expect("the copy's content", 200, "get", c.p("a-Copy3.txt"))
    c.expect("the folder", 200, "get", c.base)


def test_copy_names(c: Conformance) -> None:
    """``-Copy`` goes before the first dot, except before ``.ipynb``."""
    c.text("data.tar.gz", "x")
    c.notebook("my.analysis.ipynb")
    c.text("noext", "x")
    for name in ("data.tar.gz", "my.analysis.ipynb", "noext"):
        c.expect(f"copy {name}", 201, "copy", c.p(name), c.base)
        c.expect(f"copy {name} again", 201, "copy", c.p(name), c.base)
    c.expect("the folder", 200, "get", c.base)


def test_copy_into_folder(c: Conformance) -> None:
    c.notebook("nb.ipynb")
    c.mkdir("dest")
    c.expect("copy into another folder", 201, "copy", c.p("nb.ipynb"), c.p("dest"))
    c.expect("again: -Copy1", 201, "copy", c.p("nb.ipynb"), c.p("dest"))
    c.expect("the copy", 200, "get", c.p("dest/nb.ipynb"))
    c.expect("the folder", 200, "get", c.p("dest"))


def test_copy_binary_file(c: Conformance) -> None:
    c.binary("b.dat")
    c.expect("copy a binary file", 201, "copy", c.p("b.dat"), c.base)
    c.expect("the copy", 200, "get", c.p("b-Copy1.dat"))


def test_copied_notebook_has_a_checkpoint(c: Conformance) -> None:
    """Saving a notebook creates its first checkpoint; a copy is saved by the reference."""
    c.notebook("nb.ipynb")
    c.expect("copy a notebook", 201, "copy", c.p("nb.ipynb"), c.base)
    c.expect("the copy's checkpoints", 200, "checkpoints", c.p("nb-Copy1.ipynb"))


def test_copy_folder(c: Conformance) -> None:
    c.mkdir("src")
    c.text("src/a.txt")
    c.notebook("src/nb.ipynb")
    c.mkdir("src/sub")
    c.text("src/sub/b.txt")
    c.mkdir("src/empty")
    c.mkdir("dest")
    c.expect("copy a folder next to itself", 201, "copy", c.p("src"), c.base)
    c.expect("list the copy", 200, "get", c.p("src-Copy1"))
    c.expect("list the copy's subfolder", 200, "get", c.p("src-Copy1/sub"))
    c.expect("list the copy's empty subfolder", 200, "get", c.p("src-Copy1/empty"))
    c.expect("copy a folder into another", 201, "copy", c.p("src"), c.p("dest"))
    c.expect("list it", 200, "get", c.p("dest/src"))
    c.expect("copy a folder into another again", 201, "copy", c.p("src"), c.p("dest"))
    c.expect("the destination", 200, "get", c.p("dest"))


def test_copy_empty_folder(c: Conformance) -> None:
    c.mkdir("empty")
    c.expect("copy an empty folder", 201, "copy", c.p("empty"), c.base)
    c.expect("list the copy", 200, "get", c.p("empty-Copy1"))


def test_copy_file_to_a_new_name(c: Conformance) -> None:
    """POST to a path that does not exist (its parent does): that path is the copy."""
    c.text("a.txt")
    c.expect("copy to a new path", 201, "copy", c.p("a.txt"), c.p("renamed.txt"))
    c.expect("the copy", 200, "get", c.p("renamed.txt"))


def test_copy_folder_to_a_new_name(c: Conformance) -> None:
    c.mkdir("src")
    c.text("src/a.txt")
    c.expect("copy a folder to a new path", 201, "copy", c.p("src"), c.p("newdir"))
    c.expect("the folder", 200, "get", c.base)


def test_copy_to_missing_parent(c: Conformance) -> None:
    c.text("a.txt")
    c.expect("copy under a missing folder", 404, "copy", c.p("a.txt"), c.p("no/such"))


def test_copy_missing_source(c: Conformance) -> None:
    c.expect("copy a missing file", 404, "copy", c.p("nope.txt"), c.base)


# ============================================================================
# delete
# ============================================================================


def test_delete_file(c: Conformance) -> None:
    c.text("a.txt")
    c.text("b.txt")
    c.expect("delete", 204, "delete", c.p("a.txt"))
    c.expect("gone", 404, "get", c.p("a.txt"))
    c.expect("the folder", 200, "get", c.base)


def test_delete_folder_with_content(c: Conformance) -> None:
    c.mkdir("dir")
    c.text("dir/a.txt")
    c.notebook("dir/nb.ipynb")
    c.mkdir("dir/sub")
    c.text("dir/sub/b.txt")
    c.expect("delete a non-empty folder", 204, "delete", c.p("dir"))
    c.expect("gone", 404, "get", c.p("dir"))
    c.expect("its files are gone", 404, "get", c.p("dir/sub/b.txt"))
    c.expect("the parent", 200, "get", c.base)


def test_delete_empty_folder(c: Conformance) -> None:
    c.mkdir("dir")
    c.expect("delete an empty folder", 204, "delete", c.p("dir"))
    c.expect("gone", 404, "get", c.p("dir"))


def test_delete_missing(c: Conformance) -> None:
    c.expect("delete a missing file", 404, "delete", c.p("nope.txt"))
    c.expect("delete in a missing folder", 404, "delete", c.p("no/such.txt"))


def test_delete_notebook_removes_its_checkpoints(c: Conformance) -> None:
    c.notebook("nb.ipynb")
    c.expect("delete", 204, "delete", c.p("nb.ipynb"))
    c.expect("no checkpoints left", 200, "checkpoints", c.p("nb.ipynb"))
    c.notebook("nb.ipynb")
    c.expect("a fresh first checkpoint", 200, "checkpoints", c.p("nb.ipynb"))


def test_delete_root(c: Conformance) -> None:
    c.expect("delete the root", 400, "delete", "")
    c.expect("the scenario folder survived", 200, "get", c.base)


# ============================================================================
# checkpoints
# ============================================================================


def test_checkpoints_of_a_file(c: Conformance) -> None:
    c.text("a.txt", "original")
    c.expect("no checkpoints yet", 200, "checkpoints", c.p("a.txt"))
    ref_cp, s3_cp = c.same("create", "create_checkpoint", c.p("a.txt"))
    assert ref_cp.status == 201
    c.expect("list", 200, "checkpoints", c.p("a.txt"))
    c.text("a.txt", "changed")
    c.compare(
        "restore",
        c.ref.client.restore_checkpoint(c.p("a.txt"), ref_cp.json["id"]),
        c.s3.client.restore_checkpoint(c.p("a.txt"), s3_cp.json["id"]),
    )
    c.expect("restored content", 200, "get", c.p("a.txt"))
    c.compare(
        "delete",
        c.ref.client.delete_checkpoint(c.p("a.txt"), ref_cp.json["id"]),
        c.s3.client.delete_checkpoint(c.p("a.txt"), s3_cp.json["id"]),
    )
    c.expect("none left", 200, "checkpoints", c.p("a.txt"))


def test_checkpoints_of_a_binary_file(c: Conformance) -> None:
    c.binary("b.dat")
    ref_cp, s3_cp = c.same("create", "create_checkpoint", c.p("b.dat"))
    c.binary("b.dat", b"other bytes \xff")
    c.compare(
        "restore",
        c.ref.client.restore_checkpoint(c.p("b.dat"), ref_cp.json["id"]),
        c.s3.client.restore_checkpoint(c.p("b.dat"), s3_cp.json["id"]),
    )
    c.expect("restored content", 200, "get", c.p("b.dat"))


def test_checkpoints_of_a_notebook(c: Conformance) -> None:
    c.notebook("nb.ipynb")
    ref_list, s3_list = c.same("the automatic first checkpoint", "checkpoints", c.p("nb.ipynb"))
    assert len(ref_list.json) == 1
    c.notebook("nb.ipynb", NOTEBOOK_2)
    c.expect("still one checkpoint", 200, "checkpoints", c.p("nb.ipynb"))
    c.compare(
        "restore the first save",
        c.ref.client.restore_checkpoint(c.p("nb.ipynb"), ref_list.json[0]["id"]),
        c.s3.client.restore_checkpoint(c.p("nb.ipynb"), s3_list.json[0]["id"]),
    )
    c.expect("restored notebook", 200, "get", c.p("nb.ipynb"))


def test_delete_missing_checkpoint(c: Conformance) -> None:
    """(Restoring a missing checkpoint is not compared: the reference answers 500.)"""
    c.text("a.txt")
    c.expect("delete a checkpoint that does not exist", 404, "delete_checkpoint",
             c.p("a.txt"), "nosuchid")  # fmt: skip


def test_checkpoints_of_a_missing_file(c: Conformance) -> None:
    c.expect("list checkpoints of a missing file", 200, "checkpoints", c.p("nope.txt"))


# ============================================================================
# hidden files (allow_hidden=False, the default)
# ============================================================================


@pytest.fixture
def hidden(c: Conformance) -> Conformance:
    c.seed_raw(
        {".hidden.txt": b"hidden", ".hidden_dir/visible.txt": b"hidden", "visible.txt": b"v"},
        folders=(".hidden_dir",),
    )
    return c


_TEXT_MODEL = {"type": "file", "format": "text", "content": "x"}

#: Operations on hidden paths, each ``(conformance, client) -> response``.
HIDDEN_OPS: dict[str, Callable[[Conformance, ContentsClient], Response]] = {
    "PUT a hidden file": lambda c, cl: cl.save(c.p(".new.txt"), _TEXT_MODEL),
    "PUT into a hidden folder": lambda c, cl: cl.save(c.p(".hidden_dir/new.txt"), _TEXT_MODEL),
    "PUT over a hidden file": lambda c, cl: cl.save(c.p(".hidden.txt"), _TEXT_MODEL),
    "PUT with a hidden model path": lambda c, cl: cl.save(
        c.p("ok.txt"), {**_TEXT_MODEL, "path": c.p(".sneaky.txt")}
    ),
    "mkdir a hidden folder": lambda c, cl: cl.mkdir(c.p(".newdir")),
    "DELETE a hidden file": lambda c, cl: cl.delete(c.p(".hidden.txt")),
    "DELETE a hidden folder": lambda c, cl: cl.delete(c.p(".hidden_dir")),
    "DELETE in a hidden folder": lambda c, cl: cl.delete(c.p(".hidden_dir/visible.txt")),
    "rename to a hidden name": lambda c, cl: cl.rename(c.p("visible.txt"), c.p(".v.txt")),
    "rename a hidden file": lambda c, cl: cl.rename(c.p(".hidden.txt"), c.p("shown.txt")),
    "copy a hidden file": lambda c, cl: cl.copy(c.p(".hidden.txt"), c.base),
    "copy into a hidden folder": lambda c, cl: cl.copy(c.p("visible.txt"), c.p(".hidden_dir")),
    "copy from a hidden folder": lambda c, cl: cl.copy(c.p(".hidden_dir/visible.txt"), c.base),
}


@pytest.mark.parametrize("op", HIDDEN_OPS)
def test_hidden_refused(hidden: Conformance, op: str) -> None:
    c = hidden
    ref, s3 = HIDDEN_OPS[op](c, c.ref.client), HIDDEN_OPS[op](c, c.s3.client)
    c.compare(op, ref, s3)
    assert ref.status == 400, f"{op}: the reference answered {summary(ref)}"
    c.expect("the folder is unchanged", 200, "get", c.base)


def test_new_untitled_in_a_hidden_folder(hidden: Conformance) -> None:
    """The handler does not check POST without copy_from. The reference writes the
    file, then its final ``get()`` refuses the hidden path: 404."""
    c = hidden
    c.same("new untitled in a hidden folder", "new_untitled", c.p(".hidden_dir"), type="file")


# ============================================================================
# awkward names
# ============================================================================

AWKWARD_NAMES = [
    "with space.txt",
    "é accent.txt",
    "hash#1.txt",
    "percent%20.txt",
    "plus+sign.txt",
    "amp&and=eq.txt",
    "中文 文件.txt",
    "emoji 🚀.md",
    "question?mark.txt",
    "semi;colon,comma'quote.txt",
    "brackets [1] (2) {3}.txt",
    "trailing space .txt",
    "  leading spaces.txt",
    "@at$dollar!bang.txt",
    "tilde~inside.txt",
    "colon:name.ipynb",
]


@pytest.mark.parametrize("name", AWKWARD_NAMES)
def test_awkward_name_lifecycle(c: Conformance, name: str) -> None:
    if name.endswith(".ipynb"):
        c.notebook(name)
    else:
        c.text(name, f"content of {name}")
    c.expect("get", 200, "get", c.p(name))
    c.expect("listing", 200, "get", c.base)
    c.expect("copy", 201, "copy", c.p(name), c.base)
    c.expect("rename", 200, "rename", c.p(name), c.p("renamed " + name))
    c.expect("listing after copy and rename", 200, "get", c.base)
    c.expect("checkpoint", 201, "create_checkpoint", c.p("renamed " + name))
    c.expect("delete", 204, "delete", c.p("renamed " + name))
    c.expect("listing after delete", 200, "get", c.base)


def test_awkward_folder_names(c: Conformance) -> None:
    folder = "dir é #%+& 中"
    c.mkdir(folder)
    c.text(f"{folder}/a b.txt")
    c.mkdir(f"{folder}/sub ?")
    c.expect("list", 200, "get", c.p(folder))
    c.expect("new untitled in it", 201, "new_untitled", c.p(folder), type="notebook")
    c.expect("copy it", 201, "copy", c.p(folder), c.base)
    c.expect("list the copy", 200, "get", c.p(f"{folder}-Copy1"))
    c.expect("rename it", 200, "rename", c.p(folder), c.p("renamed 文件夹"))
    c.expect("list the renamed folder", 200, "get", c.p("renamed 文件夹"))


def test_unicode_normalisation_forms_are_distinct(c: Conformance) -> None:
    """Neither manager normalises Unicode: NFC and NFD spellings are two files."""
    nfc = unicodedata.normalize("NFC", "café.txt")
    nfd = unicodedata.normalize("NFD", "café.txt")
    c.text(nfc, "nfc")
    c.text(nfd, "nfd")
    c.expect("NFC", 200, "get", c.p(nfc))
    c.expect("NFD", 200, "get", c.p(nfd))
    c.expect("listing", 200, "get", c.base)


# ============================================================================
# path traversal
# ============================================================================


_EVIL = {"json": {"type": "file", "format": "text", "content": "evil"}}

#: Requests that try to leave the root: ``base -> (method, URL path, request kwargs)``.
TRAVERSALS: dict[str, Callable[[str], tuple[str, str, dict[str, Any]]]] = {
    "GET ../": lambda b: ("GET", "api/contents/../etc/passwd", {}),
    "GET base/../../": lambda b: ("GET", f"api/contents/{b}/../../etc/passwd", {}),
    "GET %2E%2E": lambda b: ("GET", f"api/contents/{b}/%2E%2E/%2E%2E/etc/passwd", {}),
    "PUT ../": lambda b: ("PUT", f"api/contents/{b}/../../evil.txt", _EVIL),
    "PUT %2e%2e": lambda b: ("PUT", "api/contents/%2e%2e/evil.txt", _EVIL),
    "DELETE ../": lambda b: ("DELETE", f"api/contents/{b}/../..", {}),
    "rename to ../": lambda b: ("PATCH", f"api/contents/{b}/a.txt", {"json": {"path": "../e"}}),
    "copy from ../": lambda b: ("POST", f"api/contents/{b}", {"json": {"copy_from": "../x"}}),
    "new untitled in ../": lambda b: ("POST", f"api/contents/{b}/../..", {"json": {}}),
    "checkpoint of ../": lambda b: ("POST", f"api/contents/{b}/../../x/checkpoints", {}),
}


@pytest.mark.parametrize("case", TRAVERSALS)
def test_path_traversal_refused(c: Conformance, case: str) -> None:
    c.text("a.txt")
    method, url, kwargs = TRAVERSALS[case](c.base)
    ref = c.ref.client.request(method, url, **kwargs)
    s3 = c.s3.client.request(method, url, **kwargs)
    assert ref.status >= 400, f"{case}: the reference accepted it: {summary(ref)}"
    c.compare_class(case, ref, s3)
    assert not (c.ref.server.root_dir.parent / "evil.txt").exists()
    c.expect("nothing changed", 200, "get", c.base)
