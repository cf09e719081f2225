"""A new notebook's first Save in JupyterLab 4 leaves its tab clean: on JupyterS3, and on
jupyter_server's local-disk manager as the reference (same steps, same checks).

A new notebook's tab used to turn dirty again after its first save. The cause
was JupyterLab's, on both managers: the kernel's first ``kernel_info_reply``
came after the save, and JupyterLab then wrote the kernel's ``language_info``
into the notebook's metadata (see ``lab_ui.Lab.new_notebook_here`` and
``Lab.save``). This test saves once, with no second click allowed, and checks
that the one save held the kernel's language, so nothing was left for
JupyterLab to write after it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from lab_ui import Lab, notebook_sources

from jupyters3_testing.rest import ContentsClient

pytestmark = pytest.mark.timeout(240)

#: jupyter_server's own manager of files on the local disk (the server's private root_dir).
LOCAL_DISK_MANAGER = "jupyter_server.services.contents.largefilemanager.AsyncLargeFileManager"


@pytest.fixture(params=["jupyters3", "local-disk"])
def lab_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The server config: JupyterS3 on the test's bucket, or the local-disk manager."""
    if request.param == "jupyters3":
        config: dict[str, Any] = request.getfixturevalue("js3_jupyter_config")
        return config
    return {"ServerApp": {"contents_manager_class": LOCAL_DISK_MANAGER}}


def test_a_new_notebooks_first_save_leaves_its_tab_clean(
    lab_config: dict[str, Any], js3_jupyter_factory: Any, js3_browser_context: Any
) -> None:
    server = js3_jupyter_factory(config=lab_config, app="lab")
    lab = Lab(js3_browser_context.new_page()).open(server.url, server.token)

    lab.new_notebook_here()
    lab.type_in_cell(0, "print('saved once')")
    lab.save(retries=0)  # the tab dirty again a second after the save fails here

    saved = ContentsClient(server.url, server.token).get("Untitled.ipynb", content=True)
    notebook = saved.expect(200).json["content"]
    assert notebook_sources(json.dumps(notebook).encode()) == ["print('saved once')"]
    language = notebook["metadata"].get("language_info", {})
    assert language.get("name") == "python", f"the save lacks the kernel's language: {language}"
    puts = re.findall(r"\] \d{3} PUT /api/contents/Untitled\.ipynb\b", server.log_text())
    assert len(puts) == 1, f"{len(puts)} saves of the notebook reached the server"
