"""A user's session in JupyterLab 4 on JupyterS3 and a moto S3 server, in headless Chromium.

One test, in the order a user works: every step is done through the UI and
then checked in the bucket with an S3 client independent of jupyters3. The
result is then opened in Notebook 7, served by a second Jupyter server on the
same bucket.
"""

from __future__ import annotations

import hashlib
import random
import re
from pathlib import Path
from typing import Any

import pytest
from lab_ui import Lab, contents_problems, notebook_sources, png_bytes, wait_until

from jupyters3_testing.jupyter import merge_config
from jupyters3_testing.rest import ContentsClient

pytestmark = pytest.mark.timeout(600)


def png(width: int, height: int) -> bytes:
    """A valid RGB PNG with a gradient (so a broken decode cannot pass as blank)."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 4 % 256, y * 5 % 256, 128)) for x in range(width))
        for y in range(height)
    )
    return png_bytes(width, height, rows)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_users_session_in_jupyterlab(
    js3_jupyter_factory: Any,
    js3_jupyter_config: dict[str, Any],
    js3_browser_context: Any,
    js3_raw: Any,
    js3_bucket: str,
    tmp_path: Path,
) -> None:
    # Parts of 5 MiB past 8 MiB, so the 20 MB upload also goes to S3 as a multipart upload.
    config = merge_config(
        js3_jupyter_config,
        {"JupyterS3": {"multipart_threshold": 8 * 2**20, "multipart_part_size": 5 * 2**20}},
    )
    server = js3_jupyter_factory(config=config, app="lab")
    page = js3_browser_context.new_page()
    lab = Lab(page).open(server.url, server.token)

    def keys(prefix: str = "") -> list[str]:
        return js3_raw.keys(js3_bucket, prefix)

    def body(key: str) -> bytes:
        return js3_raw.get(js3_bucket, key)

    # 1. A folder: one 0-byte marker object.
    lab.new_folder("project")
    wait_until(lambda: "project/" in keys(), "the folder marker project/")
    assert body("project/") == b""

    # 2. A notebook in it, from the Launcher.
    lab.enter_folder("project")
    lab.new_notebook_here()
    wait_until(lambda: "project/Untitled.ipynb" in keys(), "project/Untitled.ipynb")

    # 3. Type and save (Ctrl+S also creates a checkpoint).
    lab.type_in_cell(0, "print('first version')")
    lab.save()
    wait_until(
        lambda: notebook_sources(body("project/Untitled.ipynb")) == ["print('first version')"],
        "the typed cell in the saved notebook",
    )
    first_checkpoints = wait_until(
        lambda: keys("project/Untitled.ipynb/.checkpoints/"), "a checkpoint of the first version"
    )

    # 4. Rename it in the file browser (the notebook stays open).
    lab.rename("Untitled.ipynb", "analysis.ipynb")
    wait_until(
        lambda: "project/analysis.ipynb" in keys() and "project/Untitled.ipynb" not in keys(),
        "the rename in the bucket",
    )
    assert notebook_sources(body("project/analysis.ipynb")) == ["print('first version')"]
    moved = {key.rsplit("/", 1)[1] for key in keys("project/analysis.ipynb/.checkpoints/")}
    assert {key.rsplit("/", 1)[1] for key in first_checkpoints} <= moved, "checkpoints follow"
    assert not keys("project/Untitled.ipynb")
    assert lab.page.locator(".lm-TabBar-tab.lm-mod-current", has_text="analysis.ipynb").count() == 1

    # 5. A second version, then revert to the checkpoint of the first.
    lab.add_cell_below()
    lab.type_in_cell(1, "print('second version')")
    lab.save()
    wait_until(
        lambda: (
            notebook_sources(body("project/analysis.ipynb"))
            == ["print('first version')", "print('second version')"]
        ),
        "the second version in the bucket",
    )
    # Find the checkpoint that holds the first version by reading them in S3.
    listed = ContentsClient(server.url, server.token).checkpoints("project/analysis.ipynb")
    ids = [c["id"] for c in listed.expect(200).json]
    assert len(ids) >= 2, ids
    first_index = next(
        i
        for i, cid in enumerate(ids)
        if notebook_sources(body(f"project/analysis.ipynb/.checkpoints/{cid}"))
        == ["print('first version')"]
    )
    # The API lists them oldest first; JupyterLab's picker shows the list
    # reversed (newest first) and numbers the entries in that order.
    picker_index = len(ids) - 1 - first_index
    lab.menu("File", "Revert Notebook to Checkpoint")
    labels = lab.dialog().locator("select option").all_inner_texts()
    label = next(text for text in labels if text.startswith(f"{picker_index}. "))
    lab.dialog().locator("select").select_option(label=label)
    lab.accept_dialog("Ok")
    assert "This cannot be undone" in lab.dialog().inner_text()
    lab.accept_dialog("Revert")
    wait_until(
        lambda: notebook_sources(body("project/analysis.ipynb")) == ["print('first version')"],
        "the reverted notebook in the bucket",
    )
    wait_until(lambda: lab.notebook_cells().count() == 1, "one cell on screen after the revert")

    # 6. Upload a PNG and see it in the image viewer.
    picture = tmp_path / "plot.png"
    picture.write_bytes(png(96, 64))
    lab.upload(picture)
    wait_until(lambda: "project/plot.png" in keys(), "project/plot.png")
    assert body("project/plot.png") == picture.read_bytes()
    lab.item("plot.png").wait_for()
    lab.open_file("plot.png")
    image = page.locator(".jp-ImageViewer img")
    image.wait_for()
    size = wait_until(
        lambda: image.evaluate(
            "i => i.complete && i.naturalWidth ? [i.naturalWidth, i.naturalHeight] : null"
        ),
        "the image decoded in the viewer",
    )
    assert size == [96, 64]
    lab.close_current_tab()

    # 7. Upload 20 MB: JupyterLab sends 1 MB chunks, S3 gets a multipart upload of 4 parts.
    big = tmp_path / "data.bin"
    big.write_bytes(random.Random(7).randbytes(20 * 2**20))
    lab.upload(big)
    assert "The file size is 20 MB" in lab.dialog().inner_text()
    lab.accept_dialog("Upload")
    wait_until(lambda: "project/data.bin" in keys(), "project/data.bin", timeout=180)
    assert sha256(body("project/data.bin")) == sha256(big.read_bytes())
    chunks = server.log_text().count("PUT /api/contents/project/data.bin")
    assert chunks >= 20, f"JupyterLab sent {chunks} chunks"
    assert js3_raw.head(js3_bucket, "project/data.bin")["ETag"].endswith('-4"'), "4 parts"
    assert js3_raw.multipart_uploads(js3_bucket) == []

    # 8. Download the PNG from the file browser: byte-exact.
    with page.expect_download() as download:
        lab.context_command("plot.png", "filebrowser:download")
    saved = tmp_path / "downloaded.png"
    download.value.save_as(saved)
    assert saved.read_bytes() == picture.read_bytes()

    # 9. The result, in Notebook 7 (a second Jupyter server on the same bucket).
    notebook7 = js3_jupyter_factory(app="notebook")
    n7 = js3_browser_context.new_page()
    n7.goto(f"{notebook7.url}tree/project?token={notebook7.token}")
    n7.locator(".jp-DirListing-item").first.wait_for()
    wait_until(
        lambda: (
            {"analysis.ipynb", "plot.png", "data.bin"}
            <= {t.strip() for t in n7.locator(".jp-DirListing-itemText").all_inner_texts()}
        ),
        "Notebook 7's file browser listing the folder",
    )
    n7.goto(f"{notebook7.url}notebooks/project/analysis.ipynb?token={notebook7.token}")
    n7.locator(".jp-Cell .cm-content", has_text="print('first version')").wait_for()
    assert n7.locator(".jp-Cell").count() == 1
    n7.close()

    # 10. Close the notebook and delete the folder: nothing is left under it.
    lab.close_current_tab()
    lab.go_to_root()
    lab.item("project").wait_for()
    lab.context_command("project", "filebrowser:delete")
    lab.accept_dialog("Delete")
    wait_until(lambda: not keys("project"), "nothing left under project/")
    wait_until(lambda: "project" not in lab.listing(), "the folder gone from the file browser")
    assert keys() == []

    # Nothing went wrong behind the UI either: no 5xx answer, error or traceback
    # from the contents layer. (Closing a page can make jupyter_server fail a
    # kernel websocket that was still connecting, with a 500 and a traceback of
    # its own; that is not ours.)
    for log in (server.log_text(), notebook7.log_text()):
        assert not re.search(r"\] 5\d\d (GET|PUT|POST|PATCH|DELETE) /(api/contents|files)", log), (
            "a contents or /files/ request answered 5xx"
        )
        for problem in contents_problems(log):
            raise AssertionError(f"the server logged a contents error:\n{problem}")
