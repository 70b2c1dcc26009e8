"""Chapter 08 (REST APIs): print the source of the messaging server, where the slides read it.

``show(where, start, count)`` prints a few lines of a function, a module or a file, under the
file's name and the line number, so that a slide can quote the server's own code::

    show(app_py.create_app, count=12)
    show(db_py, "* Values go into SQL", 5)
    show(Path("apps/08-test_api.py"), "@pytest.fixture", 10)
"""

from __future__ import annotations

import inspect
import textwrap
from pathlib import Path

import sandbox

SANDBOX_ROOT = Path(sandbox.__file__).resolve().parent.parent  # the folder that holds sandbox/


def course_name(path: Path) -> str:
    """`path` as the course names it: from the course's folder (the parent of the notebooks'
    folder, the working directory), or from the folder that holds the sandbox."""
    path = path.resolve()
    for root in (Path.cwd().resolve().parent, SANDBOX_ROOT):
        if path.is_relative_to(root):
            return path.relative_to(root).as_posix()
    return path.as_posix()


def show(where, start="", count=12):
    """Print `count` lines of the source of `where` (a module, a function, or a Path),
    from its first line that contains `start`, under the file's name and the line number."""
    if isinstance(where, Path):
        lines, first, path = where.read_text(encoding="utf-8").splitlines(), 1, where
    else:
        lines, first = inspect.getsourcelines(where)
        first, path = first or 1, Path(inspect.getsourcefile(where))
    at = next(i for i, line in enumerate(lines) if start in line)
    print(f"# {course_name(path)}, line {first + at}")
    print(textwrap.dedent("".join(line.rstrip() + "\n" for line in lines[at:at + count])), end="")
