"""Chapter 07 (Flask): printing files, keeping a log, and comparing two versions of an API.

- ``show(path, start, count)`` prints an excerpt of a text file (an app, a template);
- ``ListHandler`` is a logging handler that keeps the records it receives in a list;
- ``STD`` and ``FLA`` are the two versions of the random API, ``sandbox/random_api.py``
  (``http.server``) and ``apps/07-random_flask.py`` (Flask); ``excerpt(path, *names)`` gives the
  code lines of some of a file's definitions, ``side_by_side(left, right)`` prints two such
  excerpts (or any two lists of lines, under ``titles=``) in two columns, and ``code_lines`` and
  ``definitions`` (which the chapter's checks use too) are what ``excerpt`` is built on.
"""

from __future__ import annotations

import ast
import io
import itertools
import logging
import textwrap
import tokenize
from pathlib import Path

import sandbox.random_api

STD = Path(sandbox.random_api.__file__)  # wherever the sandbox is installed
FLA = Path(__file__).resolve().parent.parent / "apps" / "07-random_flask.py"  # notebooks/apps/


def show(path, start="", count=None):
    """Print the text file at `path`, from its first line that starts with `start`
    (`count` lines, or to the end), with no two blank lines in a row."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    first = next(i for i, line in enumerate(lines) if line.lstrip().startswith(start))
    kept = lines[first:first + count if count else None]
    print("\n".join(line for i, line in enumerate(kept) if line or (i and kept[i - 1])))


class ListHandler(logging.Handler):
    """A logging handler that keeps the records it receives in a list, `.records`."""

    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)


def code_lines(path):
    """{line number: text} for the lines of a Python file that hold code:
    comments cut off, blank lines and docstrings left out."""
    source = path.read_text(encoding="utf-8")
    text = dict(enumerate(source.splitlines(), start=1))
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            row, col = token.start
            text[row] = text[row][:col]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for row in range(node.lineno, node.end_lineno + 1):
                text[row] = ""                      # a lone string: a docstring
    return {row: line.rstrip() for row, line in text.items() if line.strip()}


def definitions(path):
    """{name: (first line, last line)} for the top-level statements of a Python file,
    "Class.method" for methods; all imports are "import", the __main__ guard "if __name__"."""
    spans = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        if isinstance(node, ast.Expr):              # the module's docstring
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = ["import"]
        elif isinstance(node, ast.If):              # if __name__ == "__main__":
            names = ["if __name__"]
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names = [node.name]
        else:                                       # an assignment: its targets
            names = [ast.unparse(t) for t in getattr(node, "targets", [getattr(node, "target", node)])]
        for name in names:
            spans.setdefault(name, []).append((first, node.end_lineno))
        for inner in getattr(node, "body", []) if isinstance(node, ast.ClassDef) else []:
            if isinstance(inner, ast.FunctionDef):
                spans[f"{node.name}.{inner.name}"] = [(inner.lineno, inner.end_lineno)]
    return spans


def excerpt(path, *names):
    """The code lines of the named definitions, in the order given."""
    lines, spans = code_lines(path), definitions(path)
    blocks = [textwrap.dedent("\n".join(lines[row] for first, last in spans[name]
                                        for row in range(first, last + 1) if row in lines))
              for name in names]
    return "\n\n".join(blocks).splitlines()    # a blank line between two definitions


def side_by_side(left, right, width=51, titles=None):
    """Print two lists of lines in two columns, under `titles` (by default the names of
    `STD` and `FLA`), cutting lines longer than `width` (51: two columns fit a slide)."""
    cut = lambda line: line if len(line) <= width else line[:width - 1] + "…"
    titles = titles or ("http.server: " + STD.name, "Flask: " + FLA.name)
    print(f"{titles[0]:<{width}} │ {titles[1]}")
    print("─" * width + "─┼─" + "─" * width)
    for a, b in itertools.zip_longest(left, right, fillvalue=""):
        print(f"{cut(a):<{width}} │ {cut(b)}")
