"""Reusable Hypothesis strategies: S3 keys, bucket names, regions, tokens.

Test modules use them with ``import strategies`` (``tests/conftest.py`` puts this
folder on ``sys.path``). The keys are meant to break things: URL and query
delimiters, percent signs, spaces, non-ASCII text, empty segments (``//``),
``.`` and ``..`` segments, leading and trailing ``/``, deep paths and the empty
key.
"""

from __future__ import annotations

from hypothesis import strategies as st

#: ASCII characters with a meaning in URLs, query strings or shells. Each one must
#: survive encoding, signing and key mapping unchanged.
AWKWARD_CHARS = " +=&%?#~:,'!*$@;()"

#: Whole segments that path normalisation or a second round of decoding would change.
AWKWARD_SEGMENTS = (
    "",
    ".",
    "..",
    "...",
    " ",
    "  ",
    "%",
    "%20",
    "%2F",
    "%25",
    "+",
    "~",
    "a b",
    "a+b",
    "a=b&c",
    "?x=1",
    "#frag",
    "ü",
    "日本語",
    "😀",
    "x.ipynb",
    ".hidden",
    "Untitled Folder",
)

#: Real region names, plus names S3-compatible servers use.
KNOWN_REGIONS = (
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "sa-east-1",
    "cn-north-1",
    "us-gov-west-1",
    "il-central-1",
    "auto",
    "garage",
    "local",
)

_BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_LOWER_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
_SEGMENT_CHARS = 12
# The longest generated segment in UTF-8 bytes (4 per character), plus its "/".
_MAX_SEGMENT_BYTES = max(4 * _SEGMENT_CHARS, *(len(s.encode()) for s in AWKWARD_SEGMENTS)) + 1


def key_chars(*, slash: bool = False) -> st.SearchStrategy[str]:
    """Single characters for S3 keys: awkward ASCII, letters and any Unicode.

    Surrogates are excluded (they cannot be encoded as UTF-8, so they cannot be
    in a key). ``slash=False`` leaves out ``/``, for building single segments.
    """
    unicode = st.characters(exclude_categories=["Cs"], exclude_characters="/")
    choices = st.one_of(
        st.sampled_from(AWKWARD_CHARS),
        st.sampled_from("abcXYZ019-_."),
        unicode,
    )
    return st.one_of(choices, st.just("/")) if slash else choices


def key_segments(*, max_size: int = _SEGMENT_CHARS) -> st.SearchStrategy[str]:
    """One path segment of a key (no ``/``): an awkward fixed segment or random text."""
    return st.one_of(
        st.sampled_from(AWKWARD_SEGMENTS),
        st.text(key_chars(), min_size=1, max_size=max_size),
    )


def s3_keys(
    *, min_segments: int = 0, max_segments: int = 8, allow_empty: bool = True
) -> st.SearchStrategy[str]:
    """S3 object keys: segments joined by ``/``, at most 1024 UTF-8 bytes.

    Empty segments produce ``//`` and leading or trailing ``/``; zero segments
    give the empty key, which ``allow_empty=False`` removes.
    """
    keys = st.lists(key_segments(), min_size=min_segments, max_size=max_segments).map("/".join)
    if max_segments * _MAX_SEGMENT_BYTES > 1024:  # otherwise the limit cannot be reached
        keys = keys.filter(lambda key: len(key.encode("utf-8")) <= 1024)
    return keys if allow_empty else keys.filter(bool)


def bucket_names() -> st.SearchStrategy[str]:
    """Bucket names in the S3 naming rules' alphabet (3-63 of ``a-z 0-9 . -``)."""
    return st.builds(
        lambda first, middle, last: first + middle + last,
        st.sampled_from(_LOWER_ALNUM),
        st.text(st.sampled_from(_LOWER_ALNUM + ".-"), min_size=1, max_size=61),
        st.sampled_from(_LOWER_ALNUM),
    )


def regions() -> st.SearchStrategy[str]:
    """Region names: well-known ones and random ``xx-name-N`` ones."""
    letters = st.sampled_from("abcdefghijklmnopqrstuvwxyz")
    return st.one_of(
        st.sampled_from(KNOWN_REGIONS),
        st.builds(
            lambda area, name, number: f"{area}-{name}-{number}",
            st.text(letters, min_size=2, max_size=2),
            st.text(letters, min_size=4, max_size=9),
            st.integers(1, 9),
        ),
    )


def opaque_tokens(*, min_size: int = 1, max_size: int = 80) -> st.SearchStrategy[str]:
    """Server-issued opaque strings (base64-like): upload ids, continuation tokens."""
    return st.text(st.sampled_from(_BASE64 + "-_.~"), min_size=min_size, max_size=max_size)


def session_tokens() -> st.SearchStrategy[str]:
    """STS session tokens: base64 text, 16 to 400 characters (real ones are hundreds)."""
    return st.text(st.sampled_from(_BASE64), min_size=16, max_size=400)


# --- Jupyter API paths (jupyters3.keys) ---------------------------------------

#: Segments ``jupyters3.keys.normalize_path`` refuses on their own.
INVALID_SEGMENTS = ("", ".", "..", ".checkpoints")

#: Characters ``normalize_path`` refuses anywhere: C0, DEL, C1 and the backslash.
FORBIDDEN_PATH_CHARS = "".join(map(chr, [*range(0x20), *range(0x7F, 0xA0)])) + "\\"


def api_path_segments(*, max_size: int = _SEGMENT_CHARS) -> st.SearchStrategy[str]:
    """One valid API path segment: awkward but allowed text (spaces, ``%``,
    ``...``, hidden names, any non-control Unicode)."""
    chars = st.one_of(
        st.sampled_from(AWKWARD_CHARS),
        st.sampled_from("abcXYZ019-_."),
        st.characters(exclude_categories=["Cs", "Cc"], exclude_characters="/\\"),
    )
    fixed = [s for s in AWKWARD_SEGMENTS if s not in INVALID_SEGMENTS]
    return st.one_of(st.sampled_from(fixed), st.text(chars, min_size=1, max_size=max_size)).filter(
        lambda s: s not in INVALID_SEGMENTS
    )


def api_paths(*, min_segments: int = 0, max_segments: int = 6) -> st.SearchStrategy[str]:
    """Normalised API paths (no outer ``/``; ``""`` is the root when allowed)."""
    return st.lists(api_path_segments(), min_size=min_segments, max_size=max_segments).map("/".join)


def key_prefixes() -> st.SearchStrategy[str]:
    """Valid key prefixes in any spelling: ``""``, ``"a/b"``, ``"/a/b/"``, ``"a/b//"``."""
    return st.builds(
        lambda path, lead, trail: (lead + path + trail) if path else lead,
        api_paths(max_segments=3),
        st.sampled_from(["", "/", "//"]),
        st.sampled_from(["", "/", "//"]),
    )


def invalid_api_paths() -> st.SearchStrategy[str]:
    """API paths ``normalize_path`` must refuse: a bad segment or a forbidden
    character (control, backslash, lone surrogate) somewhere inside."""
    bad_segment = st.builds(
        lambda before, bad, after: "/".join([*before, bad, *after]),
        st.lists(api_path_segments(), max_size=2),
        st.sampled_from(INVALID_SEGMENTS[1:]),
        st.lists(api_path_segments(), max_size=2),
    )
    empty_inside = st.builds(lambda a, b: f"{a}//{b}", api_path_segments(), api_path_segments())
    bad_char = st.builds(
        lambda before, char, after: before + char + after,
        api_paths(max_segments=2),
        st.one_of(st.sampled_from(FORBIDDEN_PATH_CHARS), st.characters(categories=["Cs"])),
        api_paths(max_segments=2),
    )
    return st.one_of(bad_segment, empty_inside, bad_char)
