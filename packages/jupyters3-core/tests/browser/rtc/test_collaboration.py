"""Real-time collaboration (jupyter-collaboration) on JupyterS3, in two browser sessions.

Two headless Chromium sessions edit one notebook at the same time. The
collaboration extension saves the shared document through JupyterS3 on its
own (``document_save_delay``) and polls it for out-of-band changes
(``get(content=False)``, comparing ``last_modified``): the notebook in S3
must hold both sessions' edits, and the server must never see its own saves
as out-of-band changes. File ids (jupyter_server_fileid) must follow renames
of the file and of its folder, and go away with a delete, while the document
is open; no save may bring back a renamed or deleted notebook.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from lab_ui import Lab, contents_problems, wait_until

from jupyters3_testing.rest import ContentsClient

pytestmark = pytest.mark.timeout(600)


def sources(raw: bytes) -> list[str]:
    cells = json.loads(raw)["cells"]
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells]


def cell_texts(lab: Lab) -> list[str]:
    return [
        t.replace("\u200b", "")
        for t in lab.notebook_cells().locator(".cm-content").all_inner_texts()
    ]


def type_at_end(lab: Lab, index: int, text: str) -> None:
    lab.notebook_cells().nth(index).locator(".cm-content").click()
    lab.page.keyboard.press("End")
    lab.page.keyboard.type(text)


def test_two_sessions_edit_one_notebook(
    js3_jupyter_factory: Any, js3_browser_contexts: Any, js3_raw: Any, js3_bucket: str
) -> None:
    server = js3_jupyter_factory(app="lab")
    api = ContentsClient(server.url, server.token)
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "source": "x = 0",
                "metadata": {},
                "outputs": [],
                "execution_count": None,
            }
        ],
        # A kernelspec, so JupyterLab starts the kernel instead of asking for one.
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    api.save("shared.ipynb", {"type": "notebook", "content": notebook}).expect(201)

    def file_id(path: str) -> str | None:
        answer = api.request("GET", f"/api/fileid/id?path={path}")
        return json.loads(answer.body)["id"] if answer.status == 200 else None

    def id_path(fid: str) -> str | None:
        answer = api.request("GET", f"/api/fileid/path?id={fid}")
        return json.loads(answer.body)["path"] if answer.status == 200 else None

    def in_bucket(key: str) -> list[str]:
        return sources(js3_raw.get(js3_bucket, key))

    alice, bob = (Lab(js3_browser_contexts().new_page()) for _ in range(2))
    for lab in (alice, bob):
        lab.open(server.url, server.token, "lab/tree/shared.ipynb")
        lab.notebook_cells().first.locator(".cm-content", has_text="x = 0").wait_for()

    # Each adds a cell; each sees the other's.
    alice.notebook_cells().first.locator(".cm-content").click()
    alice.add_cell_below()
    alice.type_in_cell(1, "alpha = 1")
    wait_until(lambda: cell_texts(bob) == ["x = 0", "alpha = 1"], "Bob seeing Alice's cell")
    bob.notebook_cells().nth(1).locator(".cm-content").click()
    bob.add_cell_below()
    bob.type_in_cell(2, "beta = 2")
    wait_until(
        lambda: cell_texts(alice) == ["x = 0", "alpha = 1", "beta = 2"], "Alice seeing Bob's"
    )

    # Both type at once, keystrokes interleaved.
    for a, b in zip(" + 10", " + 20", strict=True):
        type_at_end(alice, 1, a)
        type_at_end(bob, 2, b)
    expected = ["x = 0", "alpha = 1 + 10", "beta = 2 + 20"]
    for lab in (alice, bob):
        wait_until(lambda lab=lab: cell_texts(lab) == expected, "both sessions converged")

    # The collaboration extension saves the shared document to S3 by itself.
    wait_until(lambda: in_bucket("shared.ipynb") == expected, "both edits in S3")

    # A file id follows a rename while the document is open.
    fid = file_id("shared.ipynb")
    assert fid
    api.rename("shared.ipynb", "renamed.ipynb").expect(200)
    assert file_id("renamed.ipynb") == fid
    assert id_path(fid) == "renamed.ipynb"
    assert file_id("shared.ipynb") is None
    type_at_end(alice, 0, "  # after the rename")
    wait_until(
        lambda: in_bucket("renamed.ipynb")[0] == "x = 0  # after the rename",
        "the edit saved under the new name",
    )

    # ... and a move into a folder, then a rename of that folder.
    api.mkdir("team").expect(201)
    api.rename("renamed.ipynb", "team/renamed.ipynb").expect(200)
    api.rename("team", "group").expect(200)
    assert id_path(fid) == "group/renamed.ipynb"
    assert file_id("group/renamed.ipynb") == fid
    type_at_end(bob, 2, "  # in the renamed folder")
    wait_until(
        lambda: in_bucket("group/renamed.ipynb")[2] == "beta = 2 + 20  # in the renamed folder",
        "the edit saved in the renamed folder",
    )

    # Nothing was written back under an old name.
    time.sleep(3)  # three save delays and poll intervals
    keys = js3_raw.keys(js3_bucket)
    notebooks = [k for k in keys if k.endswith(".ipynb")]
    assert notebooks == ["group/renamed.ipynb"], keys

    # A delete while the document is open: the id goes, and no save brings it back.
    api.delete("group/renamed.ipynb").expect(204)
    assert id_path(fid) is None
    time.sleep(3)
    assert not [k for k in js3_raw.keys(js3_bucket) if k.endswith(".ipynb")]

    log = server.log_text()
    assert "Out-of-band" not in log, "the server took its own saves for out-of-band changes"
    assert "OutOfBandChanges" not in log
    # Errors of the contents layer or of the collaboration extension (not, say, a
    # kernel websocket that jupyter_server fails when a page closes early).
    for problem in contents_problems(log, also=r"jupyter_server_ydoc|jupyter_collaboration|pycrdt"):
        raise AssertionError(f"the server logged an error:\n{problem}")
