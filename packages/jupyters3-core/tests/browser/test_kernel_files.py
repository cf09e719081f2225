"""In JupyterLab, a notebook's kernel works on the notebook's S3 folder: a cell
reads ``data.csv`` beside the notebook and writes ``out.csv``, and ``out.csv``
appears in the file browser (at its own next poll, nothing clicked) and in S3."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from lab_ui import Lab, wait_until

from jupyters3_testing import RawS3, merge_config

pytestmark = pytest.mark.timeout(240)

CELL = (
    "import csv\n"
    "rows = list(csv.reader(open('data.csv')))\n"
    "with open('out.csv', 'w') as out:\n"
    "    out.write(''.join(','.join(reversed(row)) + '\\n' for row in rows))\n"
    "print(f'{len(rows)} rows')"
)


def _notebook(source: str) -> bytes:
    cell = {
        "cell_type": "code",
        "execution_count": None,
        "id": "c1",
        "metadata": {},
        "outputs": [],
        "source": source,
    }
    notebook = {
        "cells": [cell],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(notebook).encode()


def test_a_cell_reads_a_file_beside_its_notebook_and_its_output_file_appears(
    js3_jupyter_factory: Any,
    js3_jupyter_config: dict[str, Any],
    js3_browser_context: Any,
    js3_raw: RawS3,
    js3_bucket: str,
) -> None:
    folder = f"proj-{uuid.uuid4().hex[:6]}"
    js3_raw.put(js3_bucket, f"{folder}/data.csv", b"a,b\n1,2\n3,4\n")
    js3_raw.put(js3_bucket, f"{folder}/analysis.ipynb", _notebook(CELL))
    config = merge_config(js3_jupyter_config, {"KernelManager": {"transport": "ipc"}})
    server = js3_jupyter_factory(config=config, app="lab")
    lab = Lab(js3_browser_context.new_page()).open(server.url, server.token)
    lab.enter_folder(folder)
    lab.open_file("analysis.ipynb")
    cell = lab.notebook_cells().first
    cell.locator(".cm-content[data-language]").wait_for(timeout=90_000)  # the kernel is there
    cell.locator(".cm-content").click()
    lab.page.keyboard.press("Shift+Enter")
    output = cell.locator(".jp-OutputArea-output")
    output.wait_for(timeout=60_000)
    assert output.inner_text().strip() == "3 rows"
    # The file browser lists its folder every 10 s: out.csv shows up by itself.
    lab.item("out.csv").wait_for(timeout=45_000)
    body = wait_until(lambda: js3_raw.get(js3_bucket, f"{folder}/out.csv"), "out.csv in S3")
    assert body == b"b,a\n2,1\n4,3\n"
    assert "data.csv" in lab.listing()
