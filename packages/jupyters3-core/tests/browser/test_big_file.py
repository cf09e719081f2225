"""A file over ``c.JupyterS3.max_inline_bytes``, double-clicked in JupyterLab 4.

The contents GET that opens it answers 413 with a sentence that says to
download the file instead. JupyterLab shows that sentence in an error dialog
and closes the document's tab (nothing is left half-open):

* the document context's load fails and shows the server's ``message``
  (@jupyterlab/docregistry 4.6, src/context.ts, ``_revert``)::

      .catch(async err => {
        ...
        void this._handleError(err, this._trans.__('File Load Error for %1', name));
        throw err;
      });

  ``_handleError`` is ``showErrorMessage(title, err)`` (@jupyterlab/apputils
  4.7, src/dialog.tsx), whose body is ``error.message`` and whose one button
  is ``Dialog.cancelButton({ label: trans.__('Close') })``; the message is
  the JSON ``message`` of the answer (@jupyterlab/services, serverconnection.ts,
  ``ResponseError.create``);

* the document manager closes the widget whose load failed
  (@jupyterlab/docmanager 4.6, src/manager.ts, ``_createOrOpenDocument``)::

      ready.catch(err => { console.error(...); widget.close(); });

  The empty tab stays behind the dialog for 3 s: closing waits that long for
  the context to become ready, which it never does (src/widgetmanager.ts,
  ``onClose``: ``Promise.race([context.ready, ... setTimeout(resolve, 3000,
  'timeout')])``), then disposes of the widget.

The file can still be downloaded: the file browser's Download (right-click)
fetches ``/files/<path>``, which the limit does not apply to. (File > Download,
``docmanager:download``, downloads the current document tab, not the file
selected in the file browser: it is disabled when no document is open.)
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest
from lab_ui import Lab, contents_problems, png_bytes, wait_until

from jupyters3_testing.jupyter import merge_config
from jupyters3_testing.rest import ContentsClient

pytestmark = pytest.mark.timeout(240)

LIMIT = 64 * 2**10
SMALL_TEXT = "a file under the limit\nopens as usual\n"
#: What the 413 says, in the words a user needs (the rest may be reworded).
SAYS = ("more than the", "max_inline_bytes", "Download")


def csv_of_at_least(size: int) -> bytes:
    lines = ["id,name,value"]
    total = len(lines[0]) + 1
    while total < size:
        line = f"{len(lines)},item-{len(lines)},{len(lines) * 0.25}"
        lines.append(line)
        total += len(line) + 1
    return ("\n".join(lines) + "\n").encode()


def noisy_png(side: int) -> bytes:
    """A valid RGB PNG of random pixels, stored uncompressed: about 3 * side**2 bytes."""
    noise = random.Random(20)
    rows = b"".join(b"\x00" + noise.randbytes(3 * side) for _ in range(side))
    return png_bytes(side, side, rows, level=0)


def test_a_file_over_the_limit_says_to_download_it(
    js3_jupyter_factory: Any,
    js3_jupyter_config: dict[str, Any],
    js3_browser_context: Any,
    js3_raw: Any,
    js3_bucket: str,
    tmp_path: Path,
) -> None:
    big_csv = csv_of_at_least(2**20)
    big_png = noisy_png(600)
    assert len(big_csv) > LIMIT and len(big_png) > LIMIT
    js3_raw.put(js3_bucket, "big.csv", big_csv, "text/csv")
    js3_raw.put(js3_bucket, "photo.png", big_png, "image/png")
    js3_raw.put(js3_bucket, "notes.txt", SMALL_TEXT.encode(), "text/plain")

    config = merge_config(js3_jupyter_config, {"JupyterS3": {"max_inline_bytes": LIMIT}})
    server = js3_jupyter_factory(config=config, app="lab")
    page = js3_browser_context.new_page()
    lab = Lab(page).open(server.url, server.token)
    lab.item("big.csv").wait_for()

    # 1. A file under the limit opens in the editor, as usual.
    lab.open_file("notes.txt")
    editor = page.locator(".jp-FileEditor:visible .cm-content")
    wait_until(lambda: editor.inner_text().strip() == SMALL_TEXT.strip(), "notes.txt in the editor")
    lab.close_current_tab()
    lab.tab("notes.txt").wait_for(state="detached")

    # 2. Each big file, double-clicked: an error dialog with the server's
    # sentence, one Close button, and no tab left behind (no blank viewer, no
    # spinner that never ends).
    for name in ("big.csv", "photo.png"):
        lab.open_file(name)
        dialog = page.locator(".jp-Dialog")
        wait_until(dialog.count, f"a dialog after double-clicking {name}", timeout=20)
        title, body, buttons = lab.dialog_parts()
        assert title == f"File Load Error for {name}", (title, body)
        for words in (name, *SAYS, f"= {LIMIT}"):
            assert words in body, f"{words!r} not in the dialog's text {body!r}"
        assert buttons == ["Close"], buttons
        lab.accept_dialog("Close")
        lab.tab(name).wait_for(state="detached")
        assert page.locator(".jp-Spinner:visible").count() == 0, "a spinner is still showing"
        assert page.locator(".jp-Dialog").count() == 0, "another dialog followed"

    # The server answered those opens 413, without a 5xx or an error logged.
    log = server.log_text()
    for name in ("big.csv", "photo.png"):
        assert re.search(rf"\] 413 GET /api/contents/{re.escape(name)}\?", log), name
    assert not re.search(r"\] 5\d\d (GET|PUT|POST|PATCH|DELETE) /(api/contents|files)", log)
    for problem in contents_problems(log):
        raise AssertionError(f"the server logged a contents error:\n{problem}")

    # 3. The big file can still be downloaded: right-click > Download in the
    # file browser (GET /files/big.csv), byte for byte.
    with page.expect_download() as download:
        lab.context_command("big.csv", "filebrowser:download")
    saved = tmp_path / "big.csv"
    download.value.save_as(saved)
    assert saved.read_bytes() == big_csv
    files = ContentsClient(server.url, server.token).files("photo.png", download=True)
    assert files.expect(200).body == big_png
