"""Mounts in JupyterLab 4: two other buckets as top-level folders, used as a person would.

JupyterLab runs on JupyterS3 with a main bucket and two mounts on the same
moto server (``c.JupyterS3.mounts``, see jupyters3/mounts.py): ``team``, a
second bucket under ``projects/ml/``, and ``lake``, a third bucket under
``data/``, read-only. In headless Chromium the file browser's root shows both
folders; a text file and a notebook of the lake are copied into the team
folder with the file browser's Copy and Paste (the context menu, then Ctrl+C
and Ctrl+V), and each copy is checked in the team bucket with an S3 client
independent of jupyters3: same bytes, under the prefix, nothing in the main
bucket. The copies open in JupyterLab with their content on screen; the text
file is edited and saved back to the team bucket. The read-only lake refuses
a paste (an error dialog, the bucket unchanged) and a save (JupyterLab's
"read-only" notice), and its own file is never changed.

JupyterLab's file browser (@jupyterlab/filebrowser, src/listing.ts): Copy
keeps the selected paths in the listing's clipboard, which survives a change
of folder; Paste calls ``manager.copy(path, <the folder shown>)`` for each,
that is ``POST /api/contents/<folder>`` with ``copy_from``, and shows a
"Paste Error" dialog with the server's message when one fails.
"""

from __future__ import annotations

import json
import re
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from lab_ui import Lab, contents_problems, notebook_sources, wait_until

from jupyters3_testing import MotoServer, RawS3
from jupyters3_testing.jupyter_fixtures import jupyters3_config

pytestmark = pytest.mark.timeout(600)

TEAM_PREFIX = "projects/ml/"
LAKE_PREFIX = "data/"
README = b"The lake's readme.\nrows: 3\ncolumns: a, b\n"
TRAIN = b"print('training')\n"
WELCOME = b"the main bucket\n"
RESULTS_HEADING = "Results from the lake"
RESULTS_CODE = "print('rows: 3')"
TYPED = "edited in team"


def notebook_bytes(heading: str, code: str) -> bytes:
    """A notebook with a Markdown heading and a code cell (and a kernelspec, so
    that JupyterLab asks for no kernel)."""
    notebook = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "cells": [
            {"cell_type": "markdown", "id": "c1", "metadata": {}, "source": f"## {heading}"},
            {
                "cell_type": "code",
                "id": "c2",
                "metadata": {},
                "source": code,
                "execution_count": None,
                "outputs": [],
            },
        ],
    }
    return json.dumps(notebook, indent=1).encode()


RESULTS = notebook_bytes(RESULTS_HEADING, RESULTS_CODE)


@dataclass
class Buckets:
    raw: RawS3
    main: str
    team: str
    lake: str

    def snapshot(self, bucket: str) -> dict[str, str]:
        """Every key of ``bucket`` with its ETag."""
        pages = self.raw.client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return {o["Key"]: o["ETag"] for page in pages for o in page.get("Contents", [])}


@pytest.fixture
def buckets(js3_moto_server: MotoServer, js3_region: str, js3_bucket: str) -> Iterator[Buckets]:
    """The main bucket (``js3_bucket``), a team and a lake bucket, seeded; the
    team and lake buckets are deleted (best effort) after the test."""
    raw = RawS3(js3_moto_server.endpoint_url, js3_region)
    suffix = uuid.uuid4().hex[:12]
    team, lake = f"js3-team-{suffix}", f"js3-lake-{suffix}"
    for bucket in (team, lake):
        js3_moto_server.create_bucket(bucket, js3_region)
    try:
        raw.put(js3_bucket, "welcome.txt", WELCOME)
        raw.put(team, TEAM_PREFIX + "train.py", TRAIN)
        raw.put(team, "outside.txt", b"not under the team prefix\n")
        raw.put(lake, LAKE_PREFIX + "readme.txt", README)
        raw.put(lake, LAKE_PREFIX + "results.ipynb", RESULTS)
        yield Buckets(raw, js3_bucket, team, lake)
    finally:
        for bucket in (team, lake):
            try:
                if js3_moto_server.running:
                    raw.delete_bucket(bucket)
            except Exception as exc:  # cleanup must never fail the test
                warnings.warn(f"could not delete {bucket}: {exc!r}", RuntimeWarning, stacklevel=1)


# -- the file browser, as a user drives it --------------------------------


def go_to_root(lab: Lab) -> None:
    """The breadcrumbs' home: the root, with the two mount folders."""
    lab.go_to_root()
    wait_until(lambda: {"team", "lake"} <= set(lab.listing()), "the root's listing")


def open_folder(lab: Lab, name: str, holding: str) -> None:
    """Double-click the folder ``name`` and wait until its listing shows
    ``holding`` (a file known to be there), so that a paste lands in it."""
    lab.enter_folder(name)
    lab.item(holding).wait_for()
    crumbs = lab.page.locator(".jp-BreadCrumbs").inner_text()
    assert name in crumbs, crumbs


def copy_item(lab: Lab, name: str) -> None:
    """Right-click ``name`` and choose Copy (``filebrowser:copy``)."""
    lab.context_command(name, "filebrowser:copy")
    lab.page.locator(".lm-Menu").wait_for(state="detached")


def paste_here(lab: Lab) -> None:
    """Right-click the blank part of the listing, below its last row, and
    choose Paste (``filebrowser:paste``): into the folder shown."""
    content = lab.page.locator(".jp-DirListing-content:visible")
    box = content.bounding_box()
    rows = lab.page.locator(".jp-DirListing-content:visible .jp-DirListing-item")
    last = rows.nth(rows.count() - 1).bounding_box()
    assert box is not None and last is not None
    below = last["y"] + last["height"] - box["y"]
    assert box["height"] - below > 20, "no blank space below the listing's rows"
    content.click(
        button="right", position={"x": box["width"] / 2, "y": (below + box["height"]) / 2}
    )
    lab.page.locator('.lm-Menu-item[data-command="filebrowser:paste"]').click()
    lab.page.locator(".lm-Menu").wait_for(state="detached")


def press_on_item(lab: Lab, name: str, keys: str) -> None:
    """Click the row ``name`` (selecting it, the focus on its name) and press ``keys``:
    the file browser's shortcuts act on an item's name (``.jp-DirListing-itemText``)."""
    text = lab.item(name).locator(".jp-DirListing-itemText")
    text.click()
    wait_until(
        lambda: "jp-mod-selected" in (lab.item(name).get_attribute("class") or ""),
        f"{name} selected",
    )
    text.press(keys)


def editor_lines(lab: Lab) -> list[str]:
    """The lines shown in the visible file editor (CodeMirror's ``.cm-line``s)."""
    lines: list[str] = lab.page.locator(
        ".jp-FileEditor:visible .cm-content .cm-line"
    ).all_text_contents()
    return lines


def close_tab(lab: Lab, name: str) -> None:
    """Close the current tab, ``name``, and wait until it is gone (a file of
    the same name may be opened next, from another folder)."""
    lab.close_current_tab()
    wait_until(lambda: lab.tab(name).count() == 0, f"the tab {name} closed")


def current_tab_dirty(lab: Lab) -> bool:
    return (
        lab.page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current.jp-mod-dirty").count()
        > 0
    )


def test_copy_between_mounts_in_jupyterlab(
    js3_jupyter_factory: Any,
    js3_moto_server: MotoServer,
    js3_region: str,
    js3_browser_context: Any,
    buckets: Buckets,
) -> None:
    raw = buckets.raw
    config = jupyters3_config(
        bucket=buckets.main, endpoint_url=js3_moto_server.endpoint_url, region=js3_region
    )
    config["JupyterS3"]["mounts"] = {
        "team": f"s3://{buckets.team}/{TEAM_PREFIX}",
        "lake": {"url": f"s3://{buckets.lake}/{LAKE_PREFIX}", "read_only": True},
    }
    server = js3_jupyter_factory(config=config, app="lab")
    lake_before = buckets.snapshot(buckets.lake)
    lab = Lab(js3_browser_context.new_page()).open(server.url, server.token)
    page = lab.page

    # 1. The root: the main bucket's file and the two mounts, as folders.
    wait_until(lambda: {"welcome.txt", "team", "lake"} <= set(lab.listing()), "the root listing")
    for mount in ("team", "lake"):
        assert lab.item(mount).get_attribute("data-isdir") == "true", mount
    assert lab.item("welcome.txt").get_attribute("data-isdir") == "false"

    # 2. The lake's files; the team folder shows its prefix only.
    open_folder(lab, "lake", "readme.txt")
    assert sorted(lab.listing()) == ["readme.txt", "results.ipynb"]
    go_to_root(lab)
    open_folder(lab, "team", "train.py")
    assert lab.listing() == ["train.py"], "outside.txt is not under the team prefix"

    # 3. Copy the lake's readme (context menu), paste it in the team folder.
    go_to_root(lab)
    open_folder(lab, "lake", "readme.txt")
    copy_item(lab, "readme.txt")
    go_to_root(lab)
    open_folder(lab, "team", "train.py")
    paste_here(lab)
    team_readme = TEAM_PREFIX + "readme.txt"
    wait_until(lambda: raw.exists(buckets.team, team_readme), f"{team_readme} in the team bucket")
    assert raw.get(buckets.team, team_readme) == README
    lab.item("readme.txt").wait_for()
    assert sorted(lab.listing()) == ["readme.txt", "train.py"]

    # 4. The notebook, with the keyboard this time: Ctrl+C in the lake, Ctrl+V in team.
    go_to_root(lab)
    open_folder(lab, "lake", "results.ipynb")
    press_on_item(lab, "results.ipynb", "Control+c")
    go_to_root(lab)
    open_folder(lab, "team", "train.py")
    press_on_item(lab, "train.py", "Control+v")
    team_results = TEAM_PREFIX + "results.ipynb"
    wait_until(lambda: raw.exists(buckets.team, team_results), f"{team_results} in the team bucket")
    assert raw.get(buckets.team, team_results) == RESULTS
    lab.item("results.ipynb").wait_for()

    # Where the copies landed: under the team prefix (the notebook with the
    # checkpoint JupyterS3 gives a copied notebook); nothing in the main bucket
    # but its own file; the lake as it was.
    team_keys = raw.keys(buckets.team)
    checkpoints = [key for key in team_keys if "/.checkpoints/" in key]
    assert all(key.startswith(team_results + "/.checkpoints/") for key in checkpoints), team_keys
    assert sorted(set(team_keys) - set(checkpoints)) == [
        "outside.txt",
        TEAM_PREFIX + "readme.txt",
        TEAM_PREFIX + "results.ipynb",
        TEAM_PREFIX + "train.py",
    ]
    assert raw.keys(buckets.main) == ["welcome.txt"]
    assert buckets.snapshot(buckets.lake) == lake_before

    # 5. Open the pasted readme: its text in the editor, from team/.
    lab.open_file("readme.txt")
    page.locator(".jp-FileEditor:visible .cm-content", has_text="columns: a, b").wait_for()
    assert editor_lines(lab) == README.decode().split("\n")
    wait_until(
        lambda: "Path: team/readme.txt" in lab.tab_tooltip("readme.txt"),
        "the tab's tooltip naming team/readme.txt",
    )

    # 6. The copy in team is writable: type a line, Ctrl+S, the team bucket has it.
    expected = README + TYPED.encode()
    page.locator(".jp-FileEditor:visible .cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.type(TYPED)
    wait_until(lambda: current_tab_dirty(lab), "the tab dirty after typing")
    for attempt in range(3):
        page.keyboard.press("Control+s")
        try:
            wait_until(
                lambda: (
                    not current_tab_dirty(lab) and raw.get(buckets.team, team_readme) == expected
                ),
                "the edited readme saved in the team bucket",
                timeout=20,
            )
            break
        except AssertionError:
            if attempt == 2:
                raise
            warnings.warn(
                "the edited file is not saved yet after Ctrl+S; pressing it again",
                RuntimeWarning,
                stacklevel=1,
            )
    assert buckets.snapshot(buckets.lake) == lake_before, "the lake's readme is untouched"
    close_tab(lab, "readme.txt")

    # 7. The read-only lake refuses a paste: JupyterLab's "Paste Error" with the
    # server's message; nothing reaches the lake bucket.
    copy_item(lab, "train.py")
    go_to_root(lab)
    open_folder(lab, "lake", "readme.txt")
    paste_here(lab)
    title, body, buttons = lab.dialog_parts()
    assert title == "Paste Error", (title, body)
    assert "read-only" in body, body
    lab.accept_dialog(buttons[-1])
    assert "train.py" not in lab.listing()
    assert buckets.snapshot(buckets.lake) == lake_before

    # 8. ... and a save: the lake's readme opens marked read-only, and Ctrl+S
    # there only brings JupyterLab's notice (no request is sent).
    lab.open_file("readme.txt")
    page.locator(".jp-FileEditor:visible .cm-content", has_text="columns: a, b").wait_for()
    wait_until(
        lambda: "Path: lake/readme.txt" in lab.tab_tooltip("readme.txt"),
        "the tab's tooltip naming lake/readme.txt",
    )
    page.locator(".jp-ToolbarLabelComponent:visible", has_text="is read-only").wait_for()
    page.locator(".jp-FileEditor:visible .cm-content").click()
    page.keyboard.press("Control+s")
    page.locator(".jp-toast-message", has_text="lake/readme.txt is read-only").first.wait_for()
    assert buckets.snapshot(buckets.lake) == lake_before
    close_tab(lab, "readme.txt")

    # 9. Open the pasted notebook: its heading rendered, its code in the cell editor.
    go_to_root(lab)
    open_folder(lab, "team", "results.ipynb")
    lab.open_file("results.ipynb")
    page.locator(
        ".jp-NotebookPanel:visible .jp-MarkdownOutput h2", has_text=RESULTS_HEADING
    ).wait_for()
    wait_until(lambda: RESULTS_CODE in lab.cell_texts(), "the code cell's source on screen")
    wait_until(
        lambda: "Path: team/results.ipynb" in lab.tab_tooltip("results.ipynb"),
        "the tab's tooltip naming team/results.ipynb",
    )
    assert notebook_sources(raw.get(buckets.team, team_results)) == [
        f"## {RESULTS_HEADING}",
        RESULTS_CODE,
    ]

    # Nothing went wrong behind the UI: the lake's 403 is the only refusal.
    log = server.log_text()
    assert not re.search(r"\] 5\d\d (GET|PUT|POST|PATCH|DELETE) /(api/contents|files)", log)
    for problem in contents_problems(log):
        raise AssertionError(f"the server logged a contents error:\n{problem}")
