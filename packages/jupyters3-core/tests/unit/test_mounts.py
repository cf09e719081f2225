"""Mounts as configured (pure): parsing, refusals, and the key mapping under a mount."""

from __future__ import annotations

from typing import Any

import pytest

from jupyters3 import keys
from jupyters3.auth import JupyterS3SecretAccessKeyAuthentication
from jupyters3.contents_errors import BadMount, ReadOnly
from jupyters3.mounts import (
    MountSpec,
    Stores,
    View,
    check_clashes,
    check_credentials,
    check_overlaps,
    parse_mount,
    parse_mounts,
)
from jupyters3.settings import BucketSettings
from jupyters3.store import S3Store


def test_a_url_string_is_a_bucket_and_a_prefix() -> None:
    assert parse_mount("team", "s3://team-bucket/projects/ml") == MountSpec(
        "team", "team-bucket", "projects/ml/"
    )
    assert parse_mount("lake", "s3://lake").prefix == ""
    assert parse_mount("lake", "s3://lake/").prefix == ""


def test_a_dict_takes_every_setting() -> None:
    spec = parse_mount(
        "lake",
        {
            "url": "s3://data-lake/raw/",
            "endpoint_url": "https://minio.example:9000",
            "region": "eu-west-1",
            "addressing_style": "path",
            "read_only": True,
            "profile": "lake-reader",
        },
    )
    assert (spec.bucket, spec.prefix, spec.region, spec.addressing_style) == (
        "data-lake",
        "raw/",
        "eu-west-1",
        "path",
    )
    assert spec.read_only and spec.own_credentials and spec.profile == "lake-reader"
    assert spec.endpoint_url == "https://minio.example:9000"
    by_class = parse_mount(
        "x", {"url": "s3://b/", "authentication_class": JupyterS3SecretAccessKeyAuthentication}
    )
    assert by_class.own_credentials and not parse_mount("y", "s3://b/").own_credentials


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("", "s3://b/", "non-empty"),
        (".hidden", "s3://b/", "hidden"),
        ("a/b", "s3://b/", "without '/'"),
        ("a\\b", "s3://b/", "without '/'"),
        ("..", "s3://b/", "hidden"),
        (".checkpoints", "s3://b/", "hidden"),
        ("tab\there", "s3://b/", "control character"),
        (3, "s3://b/", "non-empty string"),
        ("x", "https://b/", "not an S3 URL"),
        ("x", "s3:///prefix", "not an S3 URL"),
        ("x", "s3://b/p?versionId=1", "not an S3 URL"),
        ("x", "s3://b/../up", "'..'"),
        ("x", 7, "URL or a dict"),
        ("x", {"endpoint_url": "http://h"}, "needs a 'url'"),
        ("x", {"url": "s3://b/", "bucket": "b"}, "unknown setting(s) bucket"),
        ("x", {"url": "s3://b/", "read_only": "yes"}, "True or False"),
        ("x", {"url": "s3://b/", "addressing_style": "dns"}, "one of auto, path, virtual"),
        ("x", {"url": "s3://b/", "endpoint_url": "minio:9000"}, "http(s) URL"),
        ("x", {"url": "s3://b/", "region": ""}, "non-empty string"),
        ("x", {"url": "s3://b/", "profile": "p", "authentication_class": "a.B"}, "not both"),
        ("x", {"url": "s3://b/", "authentication_class": 3}, "a class or its name"),
        ("x", "s3://[bad/", "is not a URL"),
        ("x", {"url": "s3://b/", "endpoint_url": "http://[::1"}, "http(s) URL"),
    ],
)
def test_a_mount_that_cannot_work_is_refused_with_a_sentence(
    name: Any, value: Any, says: str
) -> None:
    with pytest.raises(BadMount, match=r"\.$|\)\.$") as info:
        parse_mount(name, value)
    assert says in str(info.value)


def test_names_that_differ_only_by_case_are_refused() -> None:
    with pytest.raises(BadMount, match="differ only by case"):
        parse_mounts({"Team": "s3://a/", "team": "s3://b/"})
    assert [s.name for s in parse_mounts({"b": "s3://b/", "a": "s3://a/"})] == ["b", "a"]


def test_a_mount_cannot_hide_a_top_level_name_of_the_main_bucket() -> None:
    specs = parse_mounts({"team": "s3://t/", "lake": "s3://l/"})
    check_clashes(specs, {"notes.txt", "teams"})
    with pytest.raises(BadMount, match="'lake' has the name of a top-level"):
        check_clashes(specs, {"lake"})


def test_paths_under_a_mount_map_to_keys_under_its_prefix() -> None:
    keymap = keys.KeyMap("projects/ml", mount="team")
    assert keymap.is_root("team") and keymap.is_root("/team/")
    assert keymap.dir_prefix("team") == "projects/ml/"
    assert keymap.dir_marker("team") == "projects/ml/"
    assert keymap.file_key("team/a/b.txt") == "projects/ml/a/b.txt"
    assert keymap.dir_prefix("team/a") == "projects/ml/a/"
    assert keymap.checkpoint_key("team/n.ipynb", "c1") == "projects/ml/n.ipynb/.checkpoints/c1"
    assert keymap.path_of("projects/ml/a/b.txt") == "team/a/b.txt"
    assert keymap.path_of("projects/ml/a/") == "team/a"
    assert keymap.path_of("projects/ml/") == "team"
    assert keymap.checkpoint_id_of("projects/ml/n.ipynb/.checkpoints/c1") == "c1"
    with pytest.raises(keys.InvalidPath):
        keymap.checkpoint_id_of("projects/ml/.checkpoints/c1")
    bare = keys.KeyMap("", mount="lake")
    assert bare.dir_marker("lake") is None and bare.file_key("lake/x") == "x"


@pytest.mark.parametrize(
    "path", ["", "other", "teams/x", "tea", "team/../other", "team/..", "team/a/../../x"]
)
def test_no_path_outside_a_mount_maps_to_one_of_its_keys(path: str) -> None:
    keymap = keys.KeyMap("p", mount="team")
    with pytest.raises(keys.InvalidPath):
        keymap.file_key(path)
    with pytest.raises(keys.InvalidPath):
        keymap.dir_prefix(path)


def test_a_mount_name_must_be_one_folder_name() -> None:
    with pytest.raises(keys.InvalidPath):
        keys.KeyMap("p", mount="a/b")


def _store(mount: str = "", *, read_only: bool = False) -> S3Store:
    def connect(**_: Any) -> Any:
        raise AssertionError("no request in a pure test")

    return S3Store(connect, keys.KeyMap("", mount=mount), read_only=read_only)


def test_the_store_of_a_path_is_its_mount_else_the_main_one() -> None:
    main, team = _store(), _store("team")
    stores = Stores(main, {"team": team})
    assert stores.at("team") is team and stores.at("team/a/b") is team
    assert stores.at("") is main and stores.at("teams/x") is main and stores.at("x") is main
    assert stores.is_mount_point("team") and not stores.is_mount_point("team/a")
    assert stores.mount_of("team/a") == "team" and stores.mount_of("teams") is None
    assert list(stores) == [main, team]
    only = Stores(None, {"team": team})
    assert only.at("x") is None and only.at("") is None and only.at("team/x") is team
    assert list(only) == [team]


def test_a_read_only_store_refuses_writes_before_any_request() -> None:

    store = _store("lake", read_only=True)
    with pytest.raises(ReadOnly, match="lake is read-only"):
        store.check_writable()
    _store("team").check_writable()


def test_stores_copy_server_side_only_on_one_service() -> None:
    a = S3Store(lambda **_: None, keys.KeyMap(""), service=("aws", 1))  # type: ignore[arg-type,return-value]
    b = S3Store(lambda **_: None, keys.KeyMap("", mount="b"), service=("aws", 1))  # type: ignore[arg-type,return-value]
    c = S3Store(lambda **_: None, keys.KeyMap("", mount="c"), service=("http://minio", 1))  # type: ignore[arg-type,return-value]
    assert b.copies_from(a) and a.copies_from(b) and a.copies_from(a)
    assert not c.copies_from(a) and not a.copies_from(c)


def test_a_read_only_mount_cannot_be_shown_writable_by_another_store() -> None:
    lake = View("mount 'lake'", "aws", "data", "curated/", True)
    check_overlaps([View("main", "aws", "notebooks", "", False), lake])
    check_overlaps([View("main", "aws", "data", "raw/", False), lake])
    check_overlaps([View("main", "http://minio", "data", "", False), lake])
    check_overlaps([View("other", "aws", "data", "", True), lake])  # both read-only
    check_overlaps([lake, View("scratch", "aws", "data", "curated/tmp/", False)])  # inside it
    with pytest.raises(BadMount, match="mount 'lake' is read-only, but main shows"):
        check_overlaps([View("main", "aws", "data", "", False), lake])
    with pytest.raises(BadMount, match="s3://data/curated/ holds s3://data/curated/"):
        check_overlaps([View("team", "aws", "data", "curated/", False), lake])


def test_versioned_checkpoints_on_asks_nothing_of_a_read_only_mount() -> None:
    from jupyters3.auth import JupyterS3DefaultAuthentication

    auth = JupyterS3DefaultAuthentication()
    main = BucketSettings("main", "", "us-east-1", "", "auto", auth, versioned_checkpoints="on")
    lake = main.for_mount(parse_mount("lake", {"url": "s3://l/", "read_only": True}), auth)
    team = main.for_mount(parse_mount("team", "s3://t/"), auth)
    assert (lake.versioned_checkpoints, team.versioned_checkpoints) == ("auto", "on")


def test_a_mount_inherits_what_it_does_not_set_and_nothing_else() -> None:
    from jupyters3.auth import JupyterS3DefaultAuthentication

    auth, own = JupyterS3DefaultAuthentication(), JupyterS3DefaultAuthentication()
    main = BucketSettings(
        "main", "users/a/", "eu-west-1", "http://127.0.0.1:9000", "path", auth,
        connect_timeout=3.0, max_attempts=7, http_client="simple", conditional_writes="on",
        copy_threshold=1024**3,
    )  # fmt: skip
    spec = parse_mount("team", {"url": "s3://t/p/", "region": "us-west-2", "profile": "x"})
    team = main.for_mount(spec, own)
    assert (team.bucket, team.prefix, team.region) == ("t", "p/", "us-west-2")
    assert (team.endpoint_url, team.addressing_style) == ("http://127.0.0.1:9000", "path")
    assert team.authentication is own and team.own_credentials and not team.own_endpoint
    assert (team.connect_timeout, team.max_attempts, team.http_client) == (3.0, 7, "simple")
    assert (team.conditional_writes, team.copy_threshold) == ("on", 1024**3)
    assert team.setting == "c.JupyterS3.mounts['team']" and main.setting == "c.JupyterS3"
    other = main.for_mount(parse_mount("o", {"url": "s3://o/", "endpoint_url": "https://m"}), auth)
    assert other.endpoint_url == "https://m" and other.own_endpoint and not other.own_credentials


@pytest.mark.parametrize(
    ("mount", "main_endpoint", "refused"),
    [
        ({"endpoint_url": "https://minio.corp:9000"}, "", True),
        ({"endpoint_url": "https://minio.corp:9000", "share_main_credentials": True}, "", False),
        ({"endpoint_url": "https://minio.corp:9000", "profile": "minio"}, "", False),
        ({"endpoint_url": "https://minio.corp:9000", "authentication_class": "m.A"}, "", False),
        ({"endpoint_url": "http://minio:9000/"}, "http://minio:9000", False),  # the main one
        ({"endpoint_url": "https://s3.us-east-1.amazonaws.com"}, "", False),  # AWS is AWS
        ({"endpoint_url": "https://s3.example.com"}, "https://s3.us-east-1.amazonaws.com", True),
        ({}, "https://minio.corp", False),  # inherits the main endpoint
    ],
)
def test_a_mount_on_an_endpoint_of_its_own_names_its_credentials(
    mount: dict[str, Any], main_endpoint: str, refused: bool
) -> None:
    spec = parse_mount("x", {"url": "s3://b/", **mount})
    if refused:
        with pytest.raises(BadMount, match="would be sent to it") as info:
            check_credentials([spec], main_endpoint)
        assert "share_main_credentials" in str(info.value) and "c.JupyterS3.mounts['x']" in str(
            info.value
        )
    else:
        check_credentials([spec], main_endpoint)


def test_share_main_credentials_is_a_boolean_and_excludes_own_credentials() -> None:
    with pytest.raises(BadMount, match="must be True or False"):
        parse_mount("x", {"url": "s3://b/", "share_main_credentials": "yes"})
    with pytest.raises(BadMount, match="exclude each other"):
        parse_mount("x", {"url": "s3://b/", "share_main_credentials": True, "profile": "p"})
