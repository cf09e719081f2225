"""API path <-> S3 key mapping: every rule by example, then properties."""

from datetime import datetime, timedelta, timezone

import pytest
import strategies
from hypothesis import assume, given
from hypothesis import strategies as st

from jupyters3 import keys
from jupyters3.contents_errors import InvalidPath, OutsideRoot
from jupyters3.keys import KeyMap

AWKWARD_OK = "a b+=&%?#~:,'!*$@;()ü日本😀"


# --- normalize_path ------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", ""),
        ("/", ""),
        ("///", ""),
        ("a", "a"),
        ("/a/b/", "a/b"),
        ("//a/b//", "a/b"),
        ("x.ipynb", "x.ipynb"),
        ("...", "..."),
        (".hidden/x", ".hidden/x"),
        ("a b/ c /d ", "a b/ c /d "),
        (AWKWARD_OK, AWKWARD_OK),
        ("%20/%2F/%25", "%20/%2F/%25"),
        ("Untitled Folder/Untitled.ipynb", "Untitled Folder/Untitled.ipynb"),
        ("a.checkpoints/checkpoints/.checkpoints2", "a.checkpoints/checkpoints/.checkpoints2"),
    ],
)
def test_normalize_path_keeps_valid_paths(raw, expected):
    assert keys.normalize_path(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("a//b", "empty path segment"),
        ("..", "outside root"),
        ("a/../b", "'..' segments"),
        ("./a", "'.' segments"),
        ("a/.", "'.' segments"),
        (".checkpoints", "reserved for checkpoints"),
        ("a.ipynb/.checkpoints/x", "reserved for checkpoints"),
        ("a\\b", "backslashes"),
        ("a\x00b", "control character"),
        ("a\nb", "control character"),
        ("a\tb", "control character"),
        ("a\x7fb", "control character"),
        ("a\x85b", "control character"),
        ("a\x9fb", "control character"),
        ("a\ud800b", "not valid Unicode"),
        ("\udcff", "not valid Unicode"),
    ],
)
def test_normalize_path_refuses_with_a_reason(raw, reason):
    with pytest.raises(InvalidPath, match=reason):
        keys.normalize_path(raw)


@pytest.mark.parametrize("raw", ["..", "../a", "a/../..", "foo/../../../bar", "./..", "a/./../.."])
def test_paths_that_climb_above_the_root_are_outside_root(raw):
    """jupyter_server's file manager answers 404 for them; the manager maps this to 404."""
    with pytest.raises(OutsideRoot, match="outside root contents directory"):
        keys.normalize_path(raw)


@pytest.mark.parametrize("raw", ["a/../b", "a/..", "a/b/../..", "a/./b"])
def test_dot_segments_that_stay_inside_are_invalid_not_outside(raw):
    with pytest.raises(InvalidPath) as error:
        keys.normalize_path(raw)
    assert not isinstance(error.value, OutsideRoot)


def test_invalid_path_is_a_value_error():
    assert issubclass(InvalidPath, ValueError)


def test_normalize_path_refuses_non_strings():
    with pytest.raises(InvalidPath):
        keys.normalize_path(None)  # type: ignore[arg-type]


# --- normalize_prefix ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", ""),
        ("/", ""),
        ("a", "a/"),
        ("a/b", "a/b/"),
        ("a/b/", "a/b/"),
        ("/a/b/", "a/b/"),
        ("a/b//", "a/b/"),
        ("users/alice ü", "users/alice ü/"),
    ],
)
def test_normalize_prefix(raw, expected):
    assert keys.normalize_prefix(raw) == expected


@pytest.mark.parametrize("raw", ["a//b", "a/../b", "./a", "a/.checkpoints", "a\\b", "a\x01"])
def test_normalize_prefix_refuses(raw):
    with pytest.raises(InvalidPath):
        keys.normalize_prefix(raw)


# --- split / join / hidden -----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [("", ("", "")), ("a", ("", "a")), ("/a/b/c/", ("a/b", "c")), ("a b/ü.txt", ("a b", "ü.txt"))],
)
def test_split(path, expected):
    assert keys.split(path) == expected


def test_split_refuses_invalid_paths():
    with pytest.raises(InvalidPath):
        keys.split("a/../b")


@pytest.mark.parametrize(
    ("parent", "name", "expected"),
    [("", "x", "x"), ("a/b", "x", "a/b/x"), ("/a/", "/x/", "a/x"), ("a", "", "a"), ("", "", "")],
)
def test_join(parent, name, expected):
    assert keys.join(parent, name) == expected


def test_hidden():
    assert keys.is_hidden_name(".x")
    assert keys.is_hidden_name(".")
    assert not keys.is_hidden_name("x.")
    assert not keys.is_hidden_name("")
    assert keys.is_hidden_path(".a/b")
    assert keys.is_hidden_path("a/.b/c")
    assert keys.is_hidden_path("/a/.b/")
    assert not keys.is_hidden_path("a/b.c/d")
    assert not keys.is_hidden_path("")


# --- KeyMap by example ---------------------------------------------------------


def test_keymap_normalises_its_prefix():
    assert KeyMap("/a/b").prefix == "a/b/"
    assert KeyMap().prefix == ""
    with pytest.raises(InvalidPath):
        KeyMap("a/../b")


def test_keymap_is_frozen_and_comparable():
    km = KeyMap("p")
    assert km == KeyMap("/p/")
    with pytest.raises(AttributeError):
        km.prefix = "q"  # type: ignore[misc]


@pytest.mark.parametrize("prefix", ["", "users/alice/"])
def test_keymap_layout(prefix):
    km = KeyMap(prefix)
    assert km.file_key("a/b.ipynb") == prefix + "a/b.ipynb"
    assert km.file_key("/a/b.ipynb/") == prefix + "a/b.ipynb"
    assert km.dir_prefix("a/b") == prefix + "a/b/"
    assert km.dir_prefix("") == prefix
    assert km.dir_marker("a/b") == prefix + "a/b/"
    assert km.checkpoint_prefix("a/b.ipynb") == prefix + "a/b.ipynb/.checkpoints/"
    assert km.checkpoint_key("a/b.ipynb", "c1") == prefix + "a/b.ipynb/.checkpoints/c1"
    assert km.checkpoint_id_of(prefix + "a/b.ipynb/.checkpoints/c1") == "c1"
    assert km.path_of(prefix + "a/b.ipynb") == "a/b.ipynb"
    assert km.path_of(prefix + "a/b/") == "a/b"
    assert km.path_of(prefix) == ""


def test_slash_key_is_not_the_bucket_root():
    with pytest.raises(InvalidPath):
        KeyMap("").path_of("/")
    assert KeyMap("").path_of("") == ""


def test_root_marker():
    assert KeyMap("").dir_marker("") is None
    assert KeyMap("users/alice").dir_marker("") == "users/alice/"
    assert KeyMap("users/alice").dir_marker("/") == "users/alice/"


def test_root_is_not_a_file():
    with pytest.raises(InvalidPath, match="root"):
        KeyMap("p").file_key("")
    with pytest.raises(InvalidPath):
        KeyMap("p").checkpoint_key("/", "c1")


def test_awkward_names_round_trip():
    km = KeyMap("pre fix/%2F")
    key = km.file_key(f"{AWKWARD_OK}/{AWKWARD_OK}.txt")
    assert key == f"pre fix/%2F/{AWKWARD_OK}/{AWKWARD_OK}.txt"
    assert km.path_of(key) == f"{AWKWARD_OK}/{AWKWARD_OK}.txt"


@pytest.mark.parametrize(
    "key",
    [
        "other/a",  # outside the prefix
        "p",  # the prefix without its slash
        "pa",  # shares the prefix's characters, not its folder
        "p//a",  # empty segment
        "p/a//b",
        "p/a/../b",
        "p/./a",
        "p/a.ipynb/.checkpoints/c1",  # a checkpoint key is not a file key
        "p/a\\b",
        "p/a\x00",
        "p/a//",
        "p//",  # not the root marker: an empty segment
    ],
)
def test_path_of_refuses_foreign_keys(key):
    with pytest.raises(InvalidPath):
        KeyMap("p").path_of(key)


@pytest.mark.parametrize("bad_id", ["", "a/b", "a b", "a.b", "../x", "id\n", "a:b", "%41"])
def test_checkpoint_key_refuses_malformed_ids(bad_id):
    with pytest.raises(InvalidPath, match="checkpoint id"):
        KeyMap("p").checkpoint_key("a.ipynb", bad_id)


@pytest.mark.parametrize(
    "key",
    [
        "p/a.ipynb",
        "p/a.ipynb/.checkpoints/",
        "p/a.ipynb/.checkpoints/x/y",
        "p/a.ipynb/.checkpoints/x.y",
        "q/a.ipynb/.checkpoints/c1",
        "p/.checkpoints/c1",  # the root is not a file
        "p/a/.checkpoints/c1/",
        "p/a//.checkpoints/c1",
    ],
)
def test_checkpoint_id_of_refuses_other_keys(key):
    with pytest.raises(InvalidPath):
        KeyMap("p").checkpoint_id_of(key)


# --- the 1024-byte limit -------------------------------------------------------


def test_key_length_limit_counts_utf8_bytes():
    km = KeyMap("p")
    assert km.file_key("a" * 1022) == "p/" + "a" * 1022  # exactly 1024 bytes
    with pytest.raises(InvalidPath, match="Name too long"):
        km.file_key("a" * 1023)
    km.file_key("ü" * 511)  # 2 + 1022 bytes
    with pytest.raises(InvalidPath, match="Name too long"):
        km.file_key("ü" * 512)


def test_key_length_limit_applies_to_markers_and_checkpoints():
    km = KeyMap("p")
    name = "a" * 1022
    km.file_key(name)
    with pytest.raises(InvalidPath, match="Name too long"):
        km.dir_marker(name)  # one byte more: the "/"
    with pytest.raises(InvalidPath, match="Name too long"):
        km.dir_prefix(name)
    with pytest.raises(InvalidPath, match="Name too long"):
        km.checkpoint_prefix(name)
    fits = "a" * (1024 - len("p/") - len("/.checkpoints/") - 2)
    assert len(km.checkpoint_key(fits, "ab").encode()) == 1024
    with pytest.raises(InvalidPath, match="Name too long"):
        km.checkpoint_key(fits, "abc")


def test_check_key_length():
    assert keys.check_key_length("x" * 1024) == "x" * 1024
    with pytest.raises(InvalidPath, match="Name too long"):
        keys.check_key_length("😀" * 257)


# --- checkpoint ids ------------------------------------------------------------


def test_new_checkpoint_id_format():
    now = datetime(2026, 11, 26, 10, 36, 45, 123456, tzinfo=timezone.utc)
    assert keys.new_checkpoint_id(now, "ab12cd") == "20261126T103645123456-ab12cd"
    assert keys.CHECKPOINT_ID.match(keys.new_checkpoint_id(now, "ab12cd"))


def test_new_checkpoint_id_uses_utc():
    local = datetime(2026, 11, 26, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert keys.new_checkpoint_id(local, "x").startswith("20261126T100000000000")


def test_new_checkpoint_id_pads_small_years():
    early = datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc)
    assert keys.new_checkpoint_id(early, "x") == "09990102T030405000006-x"


@given(
    st.datetimes(
        min_value=datetime(1000, 1, 1),
        max_value=datetime(9999, 12, 31),
        timezones=st.just(timezone.utc),
    ),
    st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True),
)
def test_checkpoint_time_reads_back_the_time_in_the_id(now: datetime, rand: str) -> None:
    assert keys.checkpoint_time(keys.new_checkpoint_id(now, rand)) == now


@pytest.mark.parametrize(
    "foreign",
    ["checkpoint", "20261126T103645-ab", "20261326T103645123456-ab", "20261126T103645123456",
     "20261126T103645123456-", "x20261126T103645123456-ab", "20261126T256045123456-ab"],
)  # fmt: skip
def test_checkpoint_time_is_none_for_ids_it_did_not_make(foreign: str) -> None:
    assert keys.checkpoint_time(foreign) is None


def test_new_checkpoint_id_refuses_naive_times_and_bad_suffixes():
    with pytest.raises(ValueError, match="timezone-aware"):
        keys.new_checkpoint_id(datetime(2026, 1, 1), "x")
    with pytest.raises(ValueError, match="suffix"):
        keys.new_checkpoint_id(datetime.now(timezone.utc), "a/b")
    with pytest.raises(ValueError, match="suffix"):
        keys.new_checkpoint_id(datetime.now(timezone.utc), "")


def test_checkpoint_id_pattern_is_anchored():
    assert keys.CHECKPOINT_ID.match("abc-_9")
    assert not keys.CHECKPOINT_ID.match("abc\n")
    assert not keys.CHECKPOINT_ID.match("abc def")


# --- properties ----------------------------------------------------------------

prefixes = strategies.key_prefixes()
paths = strategies.api_paths()
file_paths = strategies.api_paths(min_segments=1)
ids = st.from_regex(r"[A-Za-z0-9_-]{1,24}", fullmatch=True)


def _fits(fn, *args):
    """Call fn, treating "Name too long" as a reason to discard the example."""
    try:
        return fn(*args)
    except InvalidPath as error:
        assume("Name too long" not in str(error))
        raise


@given(prefixes, file_paths)
def test_file_keys_round_trip(prefix, path):
    km = KeyMap(prefix)
    key = _fits(km.file_key, path)
    assert key.startswith(km.prefix)
    assert km.path_of(key) == path
    assert km.file_key("/" + path + "/") == key


@given(prefixes, paths)
def test_folder_markers_round_trip(prefix, path):
    km = KeyMap(prefix)
    marker = _fits(km.dir_marker, path)
    if marker is None:
        assert path == "" and km.prefix == ""
        return
    assert marker.endswith("/")
    assert marker.startswith(km.prefix)
    assert marker == km.dir_prefix(path)
    assert km.path_of(marker) == path


@given(prefixes, file_paths, ids)
def test_generated_keys_are_clean(prefix, path, checkpoint_id):
    km = KeyMap(prefix)
    generated = [
        _fits(km.file_key, path),
        _fits(km.dir_prefix, path),
        _fits(km.checkpoint_prefix, path),
        _fits(km.checkpoint_key, path, checkpoint_id),
    ]
    for key in generated:
        assert key.startswith(km.prefix)
        assert "//" not in key
        assert not key.startswith("/")
        segments = key.rstrip("/").split("/")
        assert ".." not in segments
        assert "." not in segments
        assert len(key.encode("utf-8")) <= keys.MAX_KEY_BYTES
    assert km.checkpoint_id_of(generated[3]) == checkpoint_id


@given(prefixes, file_paths, ids, file_paths)
def test_checkpoint_keys_never_collide_with_contents(prefix, path, checkpoint_id, other):
    km = KeyMap(prefix)
    checkpoint = _fits(km.checkpoint_key, path, checkpoint_id)
    assert checkpoint != _fits(km.file_key, other)
    assert checkpoint != _fits(km.dir_marker, other)
    with pytest.raises(InvalidPath):
        km.path_of(checkpoint)


@given(st.text())
def test_normalize_path_only_raises_invalid_path(text):
    try:
        normal = keys.normalize_path(text)
    except InvalidPath:
        return
    assert keys.normalize_path(normal) == normal
    assert normal == text.strip("/")


@given(strategies.invalid_api_paths(), prefixes)
def test_invalid_paths_always_raise_invalid_path(path, prefix):
    km = KeyMap(prefix)
    for operation in (
        keys.normalize_path,
        keys.split,
        km.file_key,
        km.dir_prefix,
        km.dir_marker,
        km.checkpoint_prefix,
    ):
        with pytest.raises(InvalidPath):
            operation(path)
    with pytest.raises(InvalidPath):
        km.checkpoint_key(path, "c1")


@given(prefixes, strategies.s3_keys())
def test_path_of_any_key_is_a_path_or_invalid_path(prefix, key):
    km = KeyMap(prefix)
    try:
        path = km.path_of(km.prefix + key)
    except InvalidPath:
        return
    # Whatever maps to a path maps back to the same key (a file or a marker).
    expected = km.prefix + key
    assume(len(expected.encode()) <= keys.MAX_KEY_BYTES)
    assert expected in (km.dir_prefix(path), km.file_key(path) if path else km.prefix)


@given(prefixes, strategies.s3_keys())
def test_checkpoint_id_of_any_key_only_raises_invalid_path(prefix, key):
    km = KeyMap(prefix)
    try:
        checkpoint_id = km.checkpoint_id_of(km.prefix + key)
    except InvalidPath:
        return
    assert keys.CHECKPOINT_ID.match(checkpoint_id)


@given(st.text(max_size=30))
def test_normalize_prefix_only_raises_invalid_path(text):
    try:
        prefix = keys.normalize_prefix(text)
    except InvalidPath:
        return
    assert prefix == "" or (prefix.endswith("/") and not prefix.endswith("//"))
    assert keys.normalize_prefix(prefix) == prefix


_times = st.datetimes(
    min_value=datetime(1, 1, 1),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=-11)), timezone.min]),
)


@given(_times, _times, ids, ids)
def test_checkpoint_ids_sort_chronologically(t1, t2, r1, r2):
    assume(t1 != t2)
    early, late = sorted([t1, t2])
    assert keys.new_checkpoint_id(early, r1) < keys.new_checkpoint_id(late, r2)
