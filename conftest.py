"""Test-suite plumbing shared by tests/, notebooks/, exercises/ and solutions/.

1. nbval only reads ``.ipynb`` files; the course's notebooks are MyST markdown
   (jupytext). ``MystNotebook`` hands nbval the notebook jupytext reads from the
   ``.md`` file, so the kernel runs in the notebook's own folder, as in JupyterLab.
2. Exercise checks run in strict mode (``NETCOURSE_CHECKS=strict``).
3. Every Python process started by the tests imports ``tests/offline/sitecustomize.py``,
   which refuses connections and name lookups that would leave this machine.
4. After a notebook's last cell, one more cell checks that the notebook left no
   process running (every sandbox server it launched was stopped).
"""

from __future__ import annotations

import os
from pathlib import Path

from coursefiles import ROOT, is_course_notebook

OFFLINE = ROOT / "tests" / "offline"
# The first lines of every course notebook: jupytext's MyST format and the kernel.
MYST_HEADER = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3 (ipykernel)
  language: python
  name: python3
---
"""

os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(OFFLINE), str(ROOT), os.environ.get("PYTHONPATH")]))
os.environ.setdefault("MPLBACKEND", "Agg")
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
    from nbval.plugin import IPyNbFile
except ImportError:  # nbval is a test dependency; without it there is nothing to collect
    IPyNbFile = None


if IPyNbFile is not None:

    class _JupytextNbformat:
        """What nbval's collector needs of ``nbformat``, reading MyST through jupytext."""

        def __getattr__(self, name):
            return getattr(nbformat, name)

        @staticmethod
        def read(path, as_version=4):
            notebook = jupytext.read(path, as_version=as_version)
            notebook.cells.append(nbformat.v4.new_code_cell(NO_PROCESS_LEFT))
            return notebook

    class MystNotebook(IPyNbFile):
        def collect(self):
            import nbval.plugin

            real, nbval.plugin.nbformat = nbval.plugin.nbformat, _JupytextNbformat()
            try:
                items = list(super().collect())
            finally:
                nbval.plugin.nbformat = real
            return items


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
