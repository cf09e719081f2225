"""JupyterLab 4 driven the way a user drives it: clicks, keys, menus and dialogs.

Only stable hooks are used: ``data-command`` attributes, JupyterLab's CSS
classes and visible labels. Nothing is done through JupyterLab's JavaScript
API, so every step goes through the same UI code a person's click does.
"""

from __future__ import annotations

import json
import re
import struct
import time
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def wait_until(check: Callable[[], T], what: str, timeout: float = 30.0) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as exc:  # not there yet (e.g. NoSuchKey): keep polling
            last = exc
        else:
            if last:
                return last
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last: {last!r}")


class Lab:
    """One JupyterLab page."""

    def __init__(self, page: Any) -> None:
        self.page = page

    def open(self, base_url: str, token: str, path: str = "lab") -> Lab:
        self.page.goto(f"{base_url}{path}?token={token}")
        self.page.locator(".jp-DirListing-content:visible").first.wait_for(timeout=90_000)
        return self

    def click_command(self, toolbar: str, command: str) -> None:
        """Click the toolbar button of ``command`` once JupyterLab has enabled it
        (a disabled button ignores clicks, e.g. Save before the document is ready)."""
        button = self.page.locator(f'{toolbar} [data-command="{command}"]')
        self.page.locator(
            f'{toolbar} [data-command="{command}"]:not([aria-disabled="true"]):not([disabled])'
        ).wait_for()
        button.click()

    # -- file browser ------------------------------------------------------

    def item(self, name: str) -> Any:
        """The file browser row of ``name`` in the current folder."""
        return self.page.locator(
            f'.jp-DirListing-item:has(.jp-DirListing-itemText > span:text-is("{name}"))'
        )

    def listing(self) -> list[str]:
        return [
            text.strip() for text in self.page.locator(".jp-DirListing-itemText").all_inner_texts()
        ]

    def refresh(self) -> None:
        self.click_command(".jp-FileBrowser-toolbar", "filebrowser:refresh")

    def new_folder(self, name: str) -> None:
        self.click_command(".jp-FileBrowser-toolbar", "filebrowser:create-new-directory")
        self._type_new_name(name)
        self.item(name).wait_for()

    def enter_folder(self, name: str) -> None:
        self.item(name).dblclick()
        self.page.locator(".jp-BreadCrumbs", has_text=name).wait_for()
        self.page.locator(".jp-DirListing-content").wait_for()

    def go_to_root(self) -> None:
        self.page.locator(".jp-BreadCrumbs-home").click()

    def context_command(self, name: str, command: str) -> None:
        """Right-click ``name`` in the file browser and choose ``command``."""
        self.item(name).click(button="right")
        self.page.locator(f'.lm-Menu-item[data-command="{command}"]').click()

    def rename(self, old: str, new: str) -> None:
        self.context_command(old, "filebrowser:rename")
        self._type_new_name(new)
        self.item(new).wait_for()

    def upload(self, *files: Path) -> None:
        """The file browser's Upload button, with the system file chooser answered."""
        with self.page.expect_file_chooser() as chooser:
            self.page.click('.jp-FileBrowser-toolbar [title="Upload Files"]')
        chooser.value.set_files([str(f) for f in files])

    def open_file(self, name: str) -> None:
        self.item(name).dblclick()

    def _type_new_name(self, name: str) -> None:
        editor = self.page.locator(".jp-DirListing-editor")
        editor.wait_for()
        editor.fill(name)
        editor.press("Enter")
        editor.wait_for(state="detached")

    # -- documents ---------------------------------------------------------

    def new_notebook_here(self) -> None:
        """The Launcher's Python notebook card: a new notebook in the browsed
        folder, then wait until JupyterLab has its kernel's language, as a user
        waits for the kernel (and its syntax colours) before typing.

        What is waited for is the cell editor's ``data-language`` attribute.
        When the kernel's first ``kernel_info_reply`` arrives, JupyterLab
        writes its ``language_info`` into the notebook's metadata
        (@jupyterlab/notebook, panel.ts, ``_onKernelChanged`` ->
        ``_updateLanguage``); that sets the code cells' mimetype
        (widget.ts, ``_updateMimetype``), and CodeMirror then marks the editor
        ``data-language="python"``. Until then a new notebook's metadata says
        ``language_info: {"name": ""}``, so a save sent earlier is followed by
        a metadata change that turns the tab dirty again (see :meth:`save`).

        The toolbar's execution indicator cannot tell: it starts as
        ``data-status="idle"`` before the notebook has a kernel
        (executionindicator.tsx, ``attachNotebook``), so waiting for "idle"
        returned before ``POST /api/sessions`` was even sent, in 20 of 20
        runs measured.
        """
        self.page.locator('.jp-LauncherCard[data-category="Notebook"]').first.click()
        self.notebook_cells().first.wait_for()
        self.notebook_cells().first.locator(".cm-content[data-language]").wait_for(timeout=90_000)
        self.page.locator(
            '.jp-NotebookPanel:visible .jp-Notebook-ExecutionIndicator[data-status="idle"]'
        ).wait_for(timeout=90_000)

    def notebook_cells(self) -> Any:
        return self.page.locator(".jp-NotebookPanel:visible .jp-Cell")

    def type_in_cell(self, index: int, text: str) -> None:
        editor = self.notebook_cells().nth(index).locator(".cm-content")
        editor.click()
        self.page.keyboard.type(text)

    def add_cell_below(self) -> None:
        self.click_command(
            ".jp-NotebookPanel:visible .jp-NotebookPanel-toolbar", "notebook:insert-cell-below"
        )

    def set_cell_text(self, index: int, text: str) -> None:
        """Replace the whole text of cell ``index``: click into its editor,
        select all of it (Ctrl+A, CodeMirror's select-all) and type ``text``."""
        self.notebook_cells().nth(index).locator(".cm-content").click()
        self.page.keyboard.press("Control+a")
        self.page.keyboard.type(text)

    def cell_texts(self) -> list[str]:
        """The text in each cell editor of the visible notebook."""
        return self.notebook_cells().locator(".cm-content").all_inner_texts()

    def tab(self, name: str) -> Any:
        """The main area's tab labelled ``name``."""
        return self.page.locator(
            f'.lm-DockPanel-tabBar .lm-TabBar-tab:has(.lm-TabBar-tabLabel:text-is("{name}"))'
        )

    def tab_tooltip(self, name: str) -> str:
        """The tooltip of the tab ``name``: its ``title`` attribute, which Lumino
        renders from the widget's caption (JupyterLab's "Name: ... Last Checkpoint: ...")."""
        return self.tab(name).get_attribute("title") or ""

    def format_time(self, value: str) -> str:
        """``value`` (a time from the REST API) as JupyterLab 4 shows it in the
        tab tooltip and the checkpoint dialogs: ``Time.format`` of
        @jupyterlab/coreutils (time.ts) is, in this page's locale and time zone::

            const lang = document.documentElement.lang || 'en';
            new Intl.DateTimeFormat(lang, {dateStyle: 'short', timeStyle: 'short'})
              .format(new Date(value));

        (to the minute). The same standard JavaScript is run here; none of
        JupyterLab's own code is called."""
        formatted: str = self.page.evaluate(
            """value => new Intl.DateTimeFormat(document.documentElement.lang || 'en', {
                dateStyle: 'short', timeStyle: 'short'
            }).format(new Date(value))""",
            value,
        )
        return formatted

    def save(self, *, retries: int = 2) -> None:
        """The notebook toolbar's Save button (save and create a checkpoint, as
        Ctrl+S), then wait until the tab is clean and stays clean for a second.

        JupyterLab 4 offers to rename an untitled file on its first save: the
        name is kept and the offer turned off, as a user who wants the name
        they chose later would do.

        If the tab is dirty again a second after the save, Save is clicked
        again (at most ``retries`` more times, each with a warning so that it
        shows), as a user would. This is JupyterLab's doing, not the contents
        manager's: when the kernel's first ``kernel_info_reply`` arrives after a
        save was sent, JupyterLab writes the kernel's ``language_info`` into the
        notebook's metadata and the notebook is changed again. Measured with
        the earlier wait in :meth:`new_notebook_here` (which did not wait for
        the kernel): the tab turned dirty 7 to 33 ms after that reply in 9 of
        10 runs on JupyterS3 and 10 of 10 on jupyter_server's
        ``AsyncLargeFileManager``, and the second save differed from the first
        only in ``metadata.language_info`` (``{"name": ""}`` -> the kernel's;
        in 2 runs, whose session started only after the typing, in
        ``metadata.kernelspec`` too); the save's answer and the GETs after it
        had the same fields on both managers, each ``last_modified`` equal to
        the next GET's. Since
        :meth:`new_notebook_here` waits for the kernel's language, a new
        notebook's first save should not need a second click (``retries=0``
        turns the retry off, so that it fails instead).

        The clean tab is waited for in the page (Playwright's locator wait),
        not by polling from here: the clean moment between the save's end and
        that metadata change lasted 121 and 128 ms in 2 of those runs, which a
        200 ms poll missed, so the tab looked as if the click had been ignored
        (every click in those 20 runs sent its PUT); earlier reports of an
        ignored first Save may have been this.
        """
        toolbar = ".jp-NotebookPanel:visible .jp-NotebookPanel-toolbar"
        current = ".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current"
        dirty = self.page.locator(f"{current}.jp-mod-dirty")
        clean_or_offer = self.page.locator(
            f'{current}:not(.jp-mod-dirty), .jp-Dialog:has-text("Rename file")'
        ).first
        offer = self.page.locator(".jp-Dialog", has_text="Rename file")
        for attempt in range(retries + 1):
            self.click_command(toolbar, "docmanager:save")
            try:
                clean_or_offer.wait_for(timeout=15_000)
            except Exception as exc:  # Playwright's TimeoutError
                raise AssertionError(
                    "neither a clean tab nor the rename offer within 15 s of clicking Save"
                ) from exc
            if offer.count():
                offer.locator('input[type="checkbox"]').check()
                self.accept_dialog("Rename and Save")
                self.page.locator(f"{current}:not(.jp-mod-dirty)").wait_for(timeout=15_000)
            time.sleep(1.0)
            if dirty.count() == 0:
                return
            if attempt == retries:
                break
            warnings.warn(
                "JupyterLab's tab is dirty again after a Save (the notebook changed after "
                "the save was sent); clicking again",
                RuntimeWarning,
                stacklevel=2,
            )
        raise AssertionError(f"the tab is dirty again after {retries + 1} save(s)")

    def menu(self, *labels: str) -> None:
        """Open the main menu ``labels[0]`` and click through the rest."""
        self.page.locator(".lm-MenuBar-item", has_text=labels[0]).click()
        for label in labels[1:]:
            self.page.locator(".lm-Menu:visible .lm-Menu-item", has_text=label).first.click()

    def dialog(self) -> Any:
        dialog = self.page.locator(".jp-Dialog")
        dialog.wait_for()
        return dialog

    def dialog_parts(self) -> tuple[str, str, list[str]]:
        """The open dialog's title, body text and button labels, as shown."""
        dialog = self.dialog()
        return (
            dialog.locator(".jp-Dialog-header").inner_text().strip(),
            dialog.locator(".jp-Dialog-body").inner_text().strip(),
            [label.strip() for label in dialog.locator(".jp-Dialog-button").all_inner_texts()],
        )

    def accept_dialog(self, label: str) -> None:
        """Click ``label`` in the open dialog and wait until that dialog is gone
        (another one may follow it)."""
        dialog = self.dialog()
        handle = dialog.element_handle()
        dialog.locator(".jp-Dialog-button", has_text=label).click()
        handle.wait_for_element_state("hidden")

    def close_current_tab(self) -> None:
        self.page.locator(
            ".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabCloseIcon"
        ).click()


def notebook_sources(raw: bytes) -> list[str]:
    """The source of each cell of a saved notebook (nbformat 4 JSON)."""
    nb = json.loads(raw)
    assert nb["nbformat"] == 4
    return [
        "".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in nb["cells"]
    ]


def contents_problems(log: str, also: str = "") -> list[str]:
    """ERROR records and tracebacks that involve the contents layer (jupyters3,
    the contents or files handlers), or match the regex ``also``. A block runs
    until the next log record."""
    lines = log.splitlines()
    found = []
    for number, line in enumerate(lines):
        if not line.startswith(("[E ", "Traceback")):
            continue
        end = number + 1
        while end < len(lines) and not lines[end].startswith("["):
            end += 1
        block = "\n".join(lines[number:end])
        pattern = r"jupyters3|services/contents|/api/contents|/files/|files/handlers"
        if re.search(pattern + (f"|{also}" if also else ""), block):
            found.append(block)
    return found


def png_bytes(width: int, height: int, rows: bytes, *, level: int = 6) -> bytes:
    """A valid RGB PNG of ``rows`` (each a filter byte, then 3 bytes a pixel)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, level))
        + chunk(b"IEND", b"")
    )
