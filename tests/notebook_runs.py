"""nbval's run of each course notebook, kept for the build of the decks and the site.

nbval (conftest.py, one folder up) runs every course notebook as the build of the decks and
the site would run it: a fresh kernel in the notebook's folder, in the same environment. So
the build need not run them again: each run that passed is written as an ``.ipynb`` with its
outputs into a folder all the test workers share, the worker that builds (tests/conftest.py)
waits for this session's runs, and ``python -m publish ... --executed FOLDER`` takes their
outputs (publish/build.py's ``take_executed``). A notebook whose run failed, was skipped or
never came runs in the build as before. Without pytest-xdist, nothing is kept: the build runs
every notebook itself.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

from coursefiles import ROOT

RUNS = "notebook-runs"  # in the shared folder: notebooks/04-http.ipynb..., and a .failed mark for a failed run

_outputs: dict[Path, dict[int, list]] = {}  # this worker's runs: notebook -> code cell number -> outputs
_failed: set[Path] = set()


def shared_folder(config) -> Path | None:
    """The folder every test worker of this run shares (None without pytest-xdist): the parent of
    each worker's own temporary folder, which xdist gives it as --basetemp (pytest removes old ones)."""
    if not hasattr(config, "workerinput"):
        return None
    return Path(config.option.basetemp).parent


def run_path(folder: Path, notebook: Path) -> Path:
    return folder / RUNS / notebook.relative_to(ROOT).with_suffix(".ipynb")


def record(item, report, notebook) -> None:
    """One phase (setup, call, teardown) of one of nbval's cells of a course notebook.

    ``notebook`` is the notebook as the course has it (nbformat), without the cell the
    test suite adds at its end; after that last cell, the run is written (or marked failed).
    """
    folder = shared_folder(item.config)
    if folder is None:
        return
    if not report.passed:  # failed, or skipped (nbval-skip, or xfail after a timeout)
        _failed.add(item.path)
    elif report.when == "call":
        _outputs.setdefault(item.path, {})[item.cell_num] = list(getattr(item, "test_outputs", None) or [])
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    if report.when == "teardown" and item.cell_num == len(code):  # the cell added after the notebook's own
        _write(folder, item.path, notebook, _outputs.pop(item.path, {}), failed=item.path in _failed)


def _write(folder: Path, path: Path, notebook, outputs: dict[int, list], failed: bool) -> None:
    import nbformat

    target = run_path(folder, path)
    target.parent.mkdir(parents=True, exist_ok=True)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    if failed or set(outputs) < set(range(len(code))):
        target.with_suffix(".failed").touch()
        return
    nb = copy.deepcopy(notebook)
    for number, cell in enumerate(cell for cell in nb.cells if cell.cell_type == "code"):
        cell.outputs, cell.execution_count = outputs[number], number + 1  # a fresh kernel counts from 1
        for output in cell.outputs:
            if output.output_type == "execute_result":
                output.execution_count = number + 1
    partial = target.with_suffix(".partial")
    nbformat.write(nb, str(partial))
    partial.replace(target)  # at once: the build never reads half a file


def worker_finished(config) -> None:
    """This worker runs no more notebooks: the build need not wait for it."""
    folder = shared_folder(config)
    if folder is not None:
        (folder / RUNS).mkdir(exist_ok=True)
        (folder / RUNS / f"{config.workerinput['workerid']}.finished").touch()


def wait_for_runs(config, notebooks: list[Path], timeout: float) -> Path | None:
    """The folder of the runs, once each of ``notebooks`` has one (passed or failed), or every
    worker has finished, or ``timeout`` seconds have passed; None without pytest-xdist."""
    folder = shared_folder(config)
    if folder is None:
        return None
    runs, workers = folder / RUNS, config.workerinput["workercount"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = [n for n in notebooks if not run_path(folder, n).exists()
                   and not run_path(folder, n).with_suffix(".failed").exists()]
        if not waiting or len(list(runs.glob("*.finished"))) >= workers:
            break
        time.sleep(0.5)
    return runs
