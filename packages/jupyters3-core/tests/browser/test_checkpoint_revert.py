"""File > Revert Notebook to Checkpoint in JupyterLab 4, with three checkpoints in S3.

JupyterLab 4 expects a file's checkpoints listed OLDEST first:

* the tab tooltip shows the list's last entry as "Last Checkpoint"
  (@jupyterlab/docmanager, src/widgetmanager.ts, ``setCaption``)::

      const last = checkpoints[checkpoints.length - 1];
      const checkpoint = last ? Time.format(last.last_modified) : 'None';
      ... trans.__('Last Checkpoint: %1', checkpoint);

* the revert command reverses the list for its picker, whose item 0 is
  preselected (@jupyterlab/docmanager-extension, src/index.tsx,
  ``docmanager:restore-checkpoint``; @jupyterlab/apputils, InputItemsDialog:
  ``let current = options.current || 0``)::

      : await Private.getTargetCheckpoint(checkpoints.reverse(), trans);
      ...
      return context.restoreCheckpoint(targetCheckpoint.id).then(() => context.revert());

So with the order right, a user who accepts the preselected choice gets the
newest checkpoint back; listed newest first, they would silently get the oldest.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from lab_ui import Lab, contents_problems, notebook_sources, wait_until

from jupyters3_testing.rest import ContentsClient

pytestmark = pytest.mark.timeout(240)

NOTEBOOK = "Untitled.ipynb"
CHECKPOINTS = f"{NOTEBOOK}/.checkpoints/"
VERSIONS = ["version = 1", "version = 2", "version = 3"]
UNSAVED = "version = 4"


def test_revert_to_checkpoint_preselects_the_newest(
    js3_jupyter_factory: Any,
    js3_browser_context: Any,
    js3_raw: Any,
    js3_bucket: str,
) -> None:
    server = js3_jupyter_factory(app="lab")
    api = ContentsClient(server.url, server.token)
    lab = Lab(js3_browser_context.new_page()).open(server.url, server.token)

    def checkpoint_keys() -> list[str]:
        return js3_raw.keys(js3_bucket, CHECKPOINTS)

    def saved_sources() -> list[str]:
        return notebook_sources(js3_raw.get(js3_bucket, NOTEBOOK))

    def listed() -> list[dict[str, Any]]:
        models: list[dict[str, Any]] = api.checkpoints(NOTEBOOK).expect(200).json
        return models

    # A new notebook. JupyterLab checkpoints a file that has none when it opens
    # it (docregistry's context.ts, _populate -> _maybeCheckpoint). One save
    # first takes in what JupyterLab itself writes into a new notebook (the
    # kernel's language_info, which new_notebook_here waits for; should it
    # still come after a save, lab.save clicks again: one more checkpoint).
    # Then every checkpoint made so far is removed, so the three below are the
    # only ones.
    lab.new_notebook_here()
    wait_until(checkpoint_keys, "JupyterLab's checkpoint of the new notebook")
    lab.save()
    for key in checkpoint_keys():
        api.delete_checkpoint(NOTEBOOK, key.rsplit("/", 1)[1]).expect(204)
    wait_until(lambda: not checkpoint_keys(), "no checkpoint left")

    # Three versions, each typed into the cell and saved with Save, which also
    # creates a checkpoint (docmanager-extension: context.save(), then
    # context.createCheckpoint()).
    def save_version(number: int) -> None:
        text = VERSIONS[number - 1]
        lab.set_cell_text(0, text)
        lab.save()
        wait_until(lambda: saved_sources() == [text], f"{text!r} saved in the bucket")
        wait_until(lambda: len(checkpoint_keys()) == number, f"checkpoint {number} in the bucket")

    save_version(1)
    save_version(2)
    # JupyterLab shows checkpoint times to the minute: the third is made in a
    # later minute than the first, else the oldest and the newest would look
    # the same in the tooltip (a wait of 0 to 60 s, 30 on average).
    first_made = min(datetime.fromisoformat(m["last_modified"]) for m in listed())
    next_minute = first_made.replace(second=0, microsecond=0) + timedelta(minutes=1, seconds=1)
    wait_until(
        lambda: datetime.now(timezone.utc) >= next_minute,
        "a minute later than the first checkpoint",
        timeout=75,
    )
    save_version(3)

    # In the bucket: three checkpoints holding the three versions.
    version_of = {
        key.rsplit("/", 1)[1]: notebook_sources(js3_raw.get(js3_bucket, key))
        for key in checkpoint_keys()
    }
    assert sorted(version_of.values()) == [[text] for text in VERSIONS], version_of
    by_version = {sources[0]: cid for cid, sources in version_of.items()}
    oldest_id, newest_id = by_version[VERSIONS[0]], by_version[VERSIONS[-1]]

    # The same three through the REST API, which JupyterLab reads.
    models = {model["id"]: model for model in listed()}
    assert set(models) == set(version_of), (models, version_of)
    newest_time = lab.format_time(models[newest_id]["last_modified"])
    oldest_time = lab.format_time(models[oldest_id]["last_modified"])
    assert newest_time != oldest_time, "precondition: the oldest and newest in different minutes"
    wrong: list[str] = []

    # 1. The tab tooltip. JupyterLab sets it when the document is ready and when
    # the file changes, not after a checkpoint: open the notebook afresh so that
    # it is computed from the three checkpoints.
    lab.close_current_tab()
    lab.tab(NOTEBOOK).wait_for(state="detached")
    lab.open_file(NOTEBOOK)
    wait_until(lambda: lab.cell_texts() == [VERSIONS[-1]], "the notebook open again")
    tooltip = wait_until(
        lambda: re.search(r"Last Checkpoint: (.+)", lab.tab_tooltip(NOTEBOOK)),
        "a Last Checkpoint in the tab tooltip",
    ).group(1)
    if tooltip != newest_time:
        wrong.append(
            f"tooltip: Last Checkpoint {tooltip!r}, not the newest checkpoint's {newest_time!r}"
            f" (the oldest's: {oldest_time!r})"
        )

    # 2. A fourth, unsaved change; then revert, accepting what JupyterLab preselects.
    lab.set_cell_text(0, UNSAVED)
    lab.tab(NOTEBOOK).and_(lab.page.locator(".jp-mod-dirty")).wait_for()
    lab.menu("File", "Revert Notebook to Checkpoint")
    picker = lab.dialog()
    assert "Choose a checkpoint" in picker.inner_text()
    assert picker.locator("select option").count() == 3
    preselected = picker.locator("select").input_value()
    lab.accept_dialog("Ok")
    confirmation = lab.dialog().inner_text()
    assert "This cannot be undone" in confirmation
    lab.accept_dialog("Revert")

    # JupyterLab reloads the notebook once the server has restored the checkpoint
    # (POST .../checkpoints/<id>, in the server's log). The bucket held version 3
    # before, so which checkpoint was restored is read from that request.
    on_screen = wait_until(
        lambda: [t for t in lab.cell_texts() if t != UNSAVED], "the notebook reverted on screen"
    )
    restore = re.compile(rf"POST /api/contents/{re.escape(NOTEBOOK)}/checkpoints/([\w-]+)")
    restored = wait_until(lambda: restore.findall(server.log_text()), "the restore request")
    if not preselected.startswith("0. ") or newest_time not in preselected:
        wrong.append(
            f"picker: preselected {preselected!r}, not item 0 with the newest time {newest_time!r}"
        )
    if restored != [newest_id]:
        wrong.append(
            f"restored {[version_of.get(cid, cid) for cid in restored]}, not [[{VERSIONS[-1]!r}]]"
        )
    if on_screen != [VERSIONS[-1]]:
        wrong.append(f"on screen after the revert: {on_screen}, not [{VERSIONS[-1]!r}]")
    if saved_sources() != [VERSIONS[-1]]:
        wrong.append(f"in the bucket after the revert: {saved_sources()}, not [{VERSIONS[-1]!r}]")
    assert not wrong, "JupyterLab did not take the newest checkpoint:\n" + "\n".join(wrong)

    lab.tab(NOTEBOOK).and_(lab.page.locator(".jp-mod-dirty")).wait_for(state="detached")
    for problem in contents_problems(server.log_text()):
        raise AssertionError(f"the server logged a contents error:\n{problem}")
