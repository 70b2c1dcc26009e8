"""Test-suite plumbing shared by tests/, notebooks/, exercises/ and solutions/.

1. nbval only reads ``.ipynb`` files; the course's notebooks are MyST markdown
   (jupytext). ``MystNotebook``, nbval's collector subclassed, reads each course
   ``.md`` with jupytext (which notebooks: ``coursefiles.py``); the kernel runs in
   the notebook's own folder, as in JupyterLab, and test ids name the ``.md``.
2. Exercise checks run in strict mode (``NETCOURSE_CHECKS=strict``).
3. Every Python process started by the tests imports ``tests/offline/sitecustomize.py``,
   which refuses connections and name lookups that would leave this machine.
4. After a notebook's last cell, one more cell checks that the notebook left no
   process running (every sandbox server it launched was stopped).
5. Each notebook's run that passed is kept, with its outputs, for the build of the decks
   and the site (tests/notebook_runs.py): one run of each notebook serves both.
"""

from __future__ import annotations

import copy
import os
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from coursefiles import MYST_HEADER, ROOT, is_course_notebook  # noqa: F401 (MYST_HEADER: as before)

sys.path.insert(0, str(ROOT / "tests"))  # as pytest puts it for the tests' own modules
import notebook_runs  # noqa: E402

OFFLINE = ROOT / "tests" / "offline"
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(OFFLINE), str(ROOT), os.environ.get("PYTHONPATH")]))
# No MPLBACKEND: the kernels draw their figures inline, as in JupyterLab (the runs are kept for the decks).
# Check cells raise unless every check passes in solutions/ and says "not done
# yet" in exercises/ (checks/core.py); a student's notebook only prints verdicts.
os.environ.setdefault("NETCOURSE_CHECKS", "strict")

NO_PROCESS_LEFT = '''\
# Added by the test suite (conftest.py): the notebook must leave nothing running.
import psutil as _psutil
_left = [" ".join(p.cmdline()) for p in _psutil.Process().children(recursive=True) if p.is_running()]
assert not _left, f"processes left running after the last cell: {_left}"
'''


try:
    import jupytext
    import nbformat
    from nbval.plugin import IPyNbCell, IPyNbFile, find_comment_markers, find_metadata_tags
except ImportError:  # nbval is a test dependency; without it there is nothing to collect
    IPyNbFile = None


if IPyNbFile is not None:

    class MystNotebook(IPyNbFile):
        """nbval's collector for a course notebook, standing at the ``.md`` file itself.

        nbval reads an ``.ipynb`` at its collector's path and starts the kernel in that
        path's folder. Converting the ``.md`` to an ``.ipynb`` under build/ would move
        both: the kernel would run in build/ (the notebooks open files relative to their
        own folder: notebooks/apps/..., and the checks tell exercises/ from solutions/ by
        it) and the ids and reports would name a generated file. Beside the sources, an
        ``.ipynb`` would be a second copy to keep in step. So the collector is the
        ``.md``, and only reading it is done here, through nbval's public pieces:
        jupytext reads the notebook (nothing is written), the NO_PROCESS_LEFT cell is
        appended, and each code cell becomes nbval's own item, with the options nbval
        takes from its tags and comments, as nbval's collect() makes them. The kernel,
        running the cells, timeouts and reports are nbval's, unchanged: the kernel runs
        in the notebook's folder, ids read ``notebooks/04-http.md::Cell 3``, and
        ``--dist loadfile`` keeps a notebook's cells on one worker.
        """

        def collect(self):
            self.notebook = jupytext.read(self.path, as_version=4)  # as the course has it: the run kept
            self.nb = copy.deepcopy(self.notebook)  # what nbval runs
            self.nb.cells.append(nbformat.v4.new_code_cell(NO_PROCESS_LEFT))
            code_cells = (cell for cell in self.nb.cells if cell.cell_type == "code")
            for number, cell in enumerate(code_cells):
                options = defaultdict(bool, find_metadata_tags(cell.metadata))
                options.update(find_comment_markers(cell.source))
                options.setdefault("check", self.compare_outputs)
                yield IPyNbCell.from_parent(self, name=f"Cell {number}", cell_num=number, cell=cell, options=options)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if IPyNbFile is not None and isinstance(item.parent, MystNotebook):
        notebook_runs.record(item, outcome.get_result(), item.parent.notebook)


def pytest_collect_file(file_path: Path, parent):
    option = parent.config.option
    if IPyNbFile is None or not (getattr(option, "nbval", False) or getattr(option, "nbval_lax", False)):
        return None
    if is_course_notebook(file_path):
        return MystNotebook.from_parent(parent, path=file_path)
    return None


# The tests themselves stay on this machine too.
import runpy  # noqa: E402

runpy.run_path(str(OFFLINE / "sitecustomize.py"))
