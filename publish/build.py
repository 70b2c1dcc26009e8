"""Build the course's offline slide decks and web site from its notebooks.

    python -m publish execute    # build/executed/: every course notebook, run once (cached)
    python -m publish slides     # build/slides/: one reveal.js deck per notebook, executed
    python -m publish site       # build/site/: the course as a static web site (Sphinx)

``make slides`` and ``make site`` run these. Both read the executed notebooks of
``build/executed/``: a notebook runs once, and again only when its text or the
sandbox servers change. A notebook that fails to execute (an error in a cell not
tagged ``raises-exception``) fails the build, naming the notebook and the cell.

Nothing is fetched at build time and the results load nothing from the network:
reveal.js comes from the ``sphinx-revealjs`` package, MathJax (only when a
notebook has math) from ``jupyter-server-mathjax``, both installed from PyPI by
``pip install -e '.[docs]'``; they are copied beside the decks. The decks use
neither require.js nor jQuery.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from coursefiles import NOTEBOOK_DIRS, course_notebooks

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
EXECUTION_VERSION = "1"  # bump to re-execute every notebook after a change here
CELL_TIMEOUT = 300  # seconds, as the test suite's per-test timeout


class BuildError(RuntimeError):
    """The build cannot go on; the message says why, for a person."""


FAILURES: list[str] = []  # with --keep-going: what failed, reported at the end


# --------------------------------------------------------------------------- notebooks


def slide_type(cell) -> str:
    return (cell.get("metadata", {}).get("slideshow", {}) or {}).get("slide_type") or "-"


HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def markdown_headings(source: str) -> list[str]:
    """The ATX headings of a markdown text, outside code fences."""
    headings, fence = [], None
    for line in source.splitlines():
        match = FENCE.match(line)
        if match:
            marker = match.group(1)
            if fence is None:
                fence = marker
            elif marker[0] == fence[0] and len(marker) >= len(fence):
                fence = None
            continue
        if fence is None and (heading := HEADING.match(line)):
            headings.append(heading.group(2))
    return headings


def slide_plan(nb) -> list[dict]:
    """The slides that RISE and reveal.js make of a notebook, from its slide metadata.

    A ``slide`` cell starts a horizontal slide, a ``subslide`` cell a vertical one
    below it (the first cell always starts a slide). ``skip`` cells are not shown,
    ``notes`` cells go to the speaker notes. Each slide: its position ``(h, v)``,
    the indexes of its shown cells, and the headings of its markdown.
    """
    slides: list[dict] = []
    h = -1
    for index, cell in enumerate(nb.cells):
        kind = slide_type(cell)
        if not slides or kind == "slide":
            h += 1
            slides.append({"h": h, "v": 0, "cells": [], "code": [], "headings": []})
        elif kind == "subslide":
            slides.append({"h": h, "v": slides[-1]["v"] + 1, "cells": [], "code": [], "headings": []})
        if kind in ("skip", "notes"):
            continue
        slide = slides[-1]
        slide["cells"].append(index)
        if cell.cell_type == "code":
            slide["code"].append(index)
        elif cell.cell_type == "markdown":
            slide["headings"] += markdown_headings(cell.source)
    return slides


def normalized_text(text: str) -> str:
    """Heading text as a person reads it: markup, anchors and punctuation left out."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # [text](url) -> text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML tags
    return re.sub(r"[\W_]+", "", html.unescape(text)).lower()


MATH = re.compile(r"\$\$|(?<![\\$\w])\$(?=\S)[^$\n]+?(?<=\S)\$(?!\w)|\\\(|\\\[|\\begin\{")
MERMAID = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*\{?mermaid\}?\s*$", re.MULTILINE)


def uses_math(nb) -> bool:
    for cell in nb.cells:
        if cell.cell_type == "markdown" and MATH.search(cell.source):
            return True
        for output in cell.get("outputs", []):
            if "text/latex" in output.get("data", {}):
                return True
    return False


def uses_mermaid(nb) -> bool:
    return any(cell.cell_type == "markdown" and MERMAID.search(cell.source) for cell in nb.cells)


# --------------------------------------------------------------------------- helpers


def write_if_changed(path: Path, data: str | bytes) -> bool:
    """Write only when the content differs, so that Sphinx's incremental build works."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if path.exists() and path.read_bytes() == raw:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    return True


def copy_tree(source: Path, target: Path, keep: set[Path] | None = None) -> None:
    for item in sorted(source.rglob("*")):
        if item.is_file() and "__pycache__" not in item.parts and item.suffix not in {".pyc"}:
            destination = target / item.relative_to(source)
            write_if_changed(destination, item.read_bytes())
            if keep is not None:
                keep.add(destination)


def remove_others(directory: Path, keep: set[Path]) -> None:
    """Delete what an earlier build left in ``directory`` and this one did not make."""
    for item in sorted(directory.rglob("*"), reverse=True):
        if item.is_file() and item not in keep:
            item.unlink()
        elif item.is_dir() and not any(item.iterdir()):
            item.rmdir()


@contextmanager
def locked(build: Path):
    """One build at a time in a build folder (parallel test workers share it)."""
    build.mkdir(parents=True, exist_ok=True)
    with open(build / ".lock", "w") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: no lock, builds run one at a time anyway
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def log(message: str) -> None:
    print(message, flush=True)


def package_dir(module: str, extra: str = "docs") -> Path:
    try:
        imported = __import__(module)
    except ImportError as error:
        raise BuildError(f"{module} is missing: pip install -e '.[{extra}]' (make slides / make site do it)") from error
    return Path(imported.__file__).resolve().parent


# --------------------------------------------------------------------------- execution


def sandbox_digest(root: Path) -> str:
    digest = hashlib.sha256()
    sandbox = root / "sandbox"
    if sandbox.is_dir():
        for path in sorted(sandbox.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _execute_one(source: str, target: str, key: str, rel: str, pythonpath: str) -> tuple[str, float, str | None]:
    """Run one notebook in a fresh kernel (in a worker process); write it with its outputs."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    os.environ["PYTHONPATH"] = pythonpath
    os.environ.pop("MPLBACKEND", None)  # the inline backend: figures become outputs
    started = time.monotonic()
    nb = jupytext.read(source)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(Path(source).parent)}})
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as kernel_log:
        try:
            client.execute(stderr=kernel_log)  # the kernel's own chatter, shown only on failure
        except (CellExecutionError, CellTimeoutError) as error:
            return rel, time.monotonic() - started, _cell_error(nb, error)
        except Exception as error:  # the kernel died, did not start...
            kernel_log.seek(0)
            return rel, time.monotonic() - started, f"{type(error).__name__}: {error}\n{kernel_log.read()[-2000:]}"
    nb.metadata["netcourse"] = {"source": rel, "key": key}
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    return rel, time.monotonic() - started, None


def _cell_error(nb, error) -> str:
    failed = [i for i, cell in enumerate(nb.cells)
              if any(o.get("output_type") == "error" for o in cell.get("outputs", []))
              and "raises-exception" not in cell.get("metadata", {}).get("tags", [])]
    where = f"cell {failed[0]} (counting from 0)" if failed else "a cell"
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip()
    return f"{where} failed:\n{text[-3000:]}"


def execute(root: Path = REPO, build: Path | None = None, jobs: int = 2,
            keep_going: bool = False) -> list[tuple[Path, Path]]:
    """Execute the course notebooks whose text or sandbox changed; (source, executed) pairs.

    A notebook that fails raises BuildError; with ``keep_going``, the failures are kept
    in ``FAILURES`` (reported at the end by ``main``) and the others are returned.
    """
    build = build or root / "build"
    out = build / "executed"
    sandbox = sandbox_digest(root)
    offline = REPO / "tests" / "offline"  # the test suite's guard: the build stays on this machine
    pythonpath = os.pathsep.join(filter(None, [str(offline) if offline.is_dir() else "", str(root),
                                               os.environ.get("PYTHONPATH", "")]))
    pairs, todo = [], []
    for source in course_notebooks(root):
        rel = source.relative_to(root).as_posix()
        target = out / Path(rel).with_suffix(".ipynb")
        key = hashlib.sha256(f"{EXECUTION_VERSION}\0{sandbox}\0".encode() + source.read_bytes()).hexdigest()
        pairs.append((source, target))
        if target.exists():
            try:
                if json.loads(target.read_text(encoding="utf-8"))["metadata"]["netcourse"]["key"] == key:
                    continue
            except (ValueError, KeyError):
                pass
            target.unlink()
        todo.append((str(source), str(target), key, rel, pythonpath))
    if out.is_dir():
        remove_others(out, {target for _, target in pairs})
    if not todo:
        log(f"executed notebooks up to date ({len(pairs)} in {out})")
        return pairs
    log(f"executing {len(todo)} notebook(s), {jobs} at a time")
    started, failures = time.monotonic(), []
    with ProcessPoolExecutor(max_workers=max(1, min(jobs, len(todo)))) as pool:
        for rel, seconds, error in pool.map(_execute_one, *zip(*todo)):
            log(f"  {rel}: {'FAILED' if error else 'ok'} in {seconds:.1f} s")
            if error:
                failures.append(f"{rel}: {error}")
    log(f"executed in {time.monotonic() - started:.1f} s")
    if failures:
        message = "notebook(s) failed to execute:\n\n" + "\n\n".join(failures)
        if not keep_going:
            raise BuildError(message)
        FAILURES.append(message)
        log(f"error: {message}")
    return [(source, target) for source, target in pairs if target.exists()]


# --------------------------------------------------------------------------- slides

DECK_TEMPLATE = "deck"  # publish/deck/: nbconvert's reveal template with local assets
REVEAL_WIDTH, REVEAL_HEIGHT = 1280, 720


def reveal_assets(static: Path) -> Path:
    """reveal.js (dist and the speaker notes plugin) from the sphinx-revealjs package."""
    source = package_dir("sphinx_revealjs") / "_static" / "revealjs"
    target = static / "reveal.js"
    for part in ("dist", "plugin/notes"):
        copy_tree(source / part, target / part)
    for name in ("LICENSE",):
        if (source / name).exists():
            write_if_changed(target / name, (source / name).read_bytes())
    return target


def mathjax_assets(static: Path) -> Path:
    """MathJax 2.7 from the jupyter-server-mathjax package."""
    target = static / "mathjax"
    copy_tree(package_dir("jupyter_server_mathjax") / "static", target)
    return target


MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"


def refuse_mermaid(executed) -> None:
    users = [str(source) for source, target in executed if uses_mermaid(read_notebook(target))]
    if users:
        raise BuildError("mermaid diagrams cannot be built offline yet (no local mermaid.js is shipped): "
                         + ", ".join(users))


def read_notebook(path: Path):
    import nbformat

    return nbformat.read(path, as_version=4)


def build_slides(root: Path = REPO, build: Path | None = None, jobs: int = 2, keep_going: bool = False) -> list[Path]:
    from nbconvert import SlidesExporter
    from traitlets.config import Config

    build = build or root / "build"
    executed = execute(root, build, jobs, keep_going)
    refuse_mermaid(executed)
    started = time.monotonic()
    out = build / "slides"
    static = out / "_static"
    keep: set[Path] = set()
    reveal = reveal_assets(static)
    notebooks = [(source, read_notebook(target)) for source, target in executed]
    math = any(uses_math(nb) for _, nb in notebooks)
    if math:
        mathjax = mathjax_assets(static)
    else:
        shutil.rmtree(static / "mathjax", ignore_errors=True)
    keep |= {p for p in static.rglob("*") if p.is_file()}
    decks = []
    for source, nb in notebooks:
        rel = source.relative_to(root)
        deck = out / rel.with_suffix(".slides.html")
        prefix = os.path.relpath(reveal, deck.parent).replace(os.sep, "/")
        config = Config()
        config.SlidesExporter.reveal_url_prefix = prefix
        config.SlidesExporter.reveal_theme = "white"  # the one reveal.js theme that loads no web font
        config.SlidesExporter.reveal_transition = "none"
        config.SlidesExporter.reveal_number = "c/t"
        config.SlidesExporter.reveal_width = str(REVEAL_WIDTH)
        config.SlidesExporter.reveal_height = str(REVEAL_HEIGHT)
        exporter = SlidesExporter(config=config, extra_template_basedirs=[str(HERE)], template_name=DECK_TEMPLATE)
        mathjax_url = ""
        if math and uses_math(nb):
            mathjax_url = os.path.relpath(mathjax / "MathJax.js", deck.parent).replace(os.sep, "/")
            mathjax_url += f"?config={MATHJAX_CONFIG}"
        title = nb.cells[0].source.lstrip("# ").splitlines()[0] if nb.cells else rel.stem
        nb.metadata["title"] = title
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": rel.stem},
                                                               "netcourse": {"mathjax_url": mathjax_url}})
        write_if_changed(deck, body)
        keep.add(deck)
        decks.append((rel, deck, title))
    index = out / "index.html"
    write_if_changed(index, slides_index(decks, out))
    keep.add(index)
    remove_others(out, keep)
    log(f"{len(decks)} slide decks in {out} ({time.monotonic() - started:.1f} s)")
    return [deck for _, deck, _ in decks]


def slides_index(decks, out: Path) -> str:
    items = "\n".join(
        f'<li><a href="{html.escape(deck.relative_to(out).as_posix())}">{html.escape(title)}</a>'
        f' <small>({html.escape(rel.as_posix())})</small></li>'
        for rel, deck, title in decks)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Course slides</title>
<style>body {{ font-family: sans-serif; max-width: 50em; margin: 2em auto; line-height: 1.5 }}</style>
</head><body>
<h1>Client/server networking in Python: slides</h1>
<p>Open a deck; arrow keys move between slides, <kbd>S</kbd> opens the speaker notes, <kbd>Esc</kbd> the overview.</p>
<ul>
{items}
</ul>
</body></html>
"""


# --------------------------------------------------------------------------- site

SITE_SOURCES = HERE / "site"
LINK = re.compile(r"(\]\(\s*<?)([^()\s<>#]+?\.md)(#[^()\s<>]*)?")


def site_links(text: str, nb_dir: Path, notebooks: set[Path]) -> str:
    """Links between course notebooks point at ``.md`` files; the site has their executed ``.ipynb``."""

    def replace(match):
        target = (nb_dir / match.group(2)).resolve()
        if target in notebooks:
            return match.group(1) + match.group(2)[:-3] + ".ipynb" + (match.group(3) or "")
        return match.group(0)

    return LINK.sub(replace, text)


def sandbox_servers(root: Path) -> dict[str, tuple[str, str]]:
    """``sandbox.servers.SERVERS`` read from its source (the build does not import the sandbox)."""
    path = root / "sandbox" / "servers.py"
    if not path.exists():
        return {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "SERVERS" for t in node.targets):
            return ast.literal_eval(node.value)
    return {}


def fenced(text: str, language: str = "") -> str:
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text.rstrip()}\n{fence}\n"


def module_files(root: Path, module: str) -> list[Path]:
    base = root / Path(*module.split("."))
    if base.is_dir():
        return sorted(p for p in base.rglob("*.py") if "__pycache__" not in p.parts)
    return [base.with_suffix(".py")]


def docstring(path: Path, function: str | None = None) -> str:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    if function:
        tree = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function), None)
    return (ast.get_docstring(tree) or "") if tree is not None else ""


def reference_pages(root: Path) -> dict[str, str]:
    """The sandbox servers' reference: one page per server, from their own source."""
    servers = sandbox_servers(root)
    if not servers:
        return {}
    pages = {}
    launcher = root / "sandbox" / "launcher.py"
    rows = "\n".join(f"| [`{name}`]({name}.md) | {description} |" for name, (_, description) in servers.items())
    index = ["# Sandbox servers reference", "",
             "The servers the notebooks talk to. Each one is a short Python module, meant to be read;",
             "every page below shows its documentation, its command line options and its source.", "",
             "| server | what |", "| --- | --- |", rows, "",
             "## Starting a server", "",
             "From Python (a notebook cell, a test): `from sandbox import launch`.", ""]
    if launcher.exists():
        index += [fenced(docstring(launcher), "text"), "### `launch()`", "",
                  fenced(docstring(launcher, "launch"), "text")]
    index += ["From a terminal: `python -m sandbox --list`, `python -m sandbox NAME --help`, "
              "`python -m sandbox NAME [--host H] [--port P]`.", "",
              "```{toctree}", ":hidden:", "", *servers, "```", ""]
    pages["reference/index.md"] = "\n".join(index)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH", "")])))
    for name, (module, description) in servers.items():
        result = subprocess.run([sys.executable, "-m", "sandbox", name, "--help"], cwd=root, env=env,
                                capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise BuildError(f"python -m sandbox {name} --help failed:\n{result.stderr}")
        files = module_files(root, module)
        parts = [f"# `{name}`: {description}", "", f"Module `{module}`. Start it with `launch(\"{name}\")` "
                 f"or `python -m sandbox {name}`.", "", "## What it does", "",
                 fenced(docstring(files[0]) or description, "text"), "## Command line", "",
                 fenced(f"$ python -m sandbox {name} --help\n{result.stdout}", "text"), "## Source", ""]
        for path in files:
            source = path.read_text(encoding="utf-8")
            parts += [f"### `{path.relative_to(root).as_posix()}`", "", fenced(source, "python")]
        pages[f"reference/{name}.md"] = "\n".join(parts)
    return pages


def exercises_page(root: Path, executed) -> str:
    """Each exercise, then its solution, each a page of its own."""
    sources = {source.relative_to(root).with_suffix("").as_posix() for source, _ in executed}
    exercises = sorted(s for s in sources if s.startswith("exercises/"))
    lines = ["# Exercises", "", "One exercise notebook per chapter; its solution is on the page after it.", ""]
    entries = []
    for exercise in exercises:
        entries.append(exercise)
        solution = "solutions/" + exercise.split("/", 1)[1]
        if solution in sources:
            entries.append(solution)
    entries += sorted(s for s in sources if s.startswith("solutions/") and s not in entries)
    if entries:
        lines += ["```{toctree}", ":maxdepth: 1", "", *entries, "```", ""]
    else:
        lines += ["There are no exercises yet.", ""]
    return "\n".join(lines)


def assemble_site(root: Path, build: Path, executed) -> Path:
    """``build/site-src/``: the site's pages, written only where they changed."""
    import nbformat

    src = build / "site-src"
    keep: set[Path] = set()
    copy_tree(SITE_SOURCES, src, keep)
    notebooks = {source.resolve() for source, _ in executed}
    math = False
    for source, target in executed:
        nb = read_notebook(target)
        math = math or uses_math(nb)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = site_links(cell.source, source.parent, notebooks)
        page = src / source.relative_to(root).with_suffix(".ipynb")
        write_if_changed(page, nbformat.writes(nb) + "\n")
        keep.add(page)
    pages = {"exercises.md": exercises_page(root, executed), **reference_pages(root)}
    for name, text in pages.items():
        write_if_changed(src / name, text)
        keep.add(src / name)
    if (root / "sandbox").is_dir():  # notebooks link to the servers' source: downloadable files
        copy_tree(root / "sandbox", src / "sandbox", keep)
    for folder in NOTEBOOK_DIRS:  # and to files beside them (notebooks/apps/...): downloadable too
        for item in sorted((root / folder).rglob("*")) if (root / folder).is_dir() else []:
            rel = item.relative_to(root)
            if (item.is_file() and item.suffix not in {".md", ".ipynb", ".pyc"}
                    and not any(part.startswith(".") or part == "__pycache__" for part in rel.parts)):
                write_if_changed(src / rel, item.read_bytes())
                keep.add(src / rel)
    settings = {"math": math, "reference": bool(pages.keys() - {"exercises.md"})}
    write_if_changed(src / "_netcourse.json", json.dumps(settings))
    keep.add(src / "_netcourse.json")
    if math:
        mathjax_assets(src / "_mathjax")
        keep |= {p for p in (src / "_mathjax").rglob("*") if p.is_file()}
    remove_others(src, keep)
    return src


def build_site(root: Path = REPO, build: Path | None = None, jobs: int = 2, keep_going: bool = False) -> Path:
    build = build or root / "build"
    executed = execute(root, build, jobs, keep_going)
    refuse_mermaid(executed)
    started = time.monotonic()
    src = assemble_site(root, build, executed)
    out = build / "site"
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q",
               "-d", str(build / "site-doctrees"), str(src), str(out)]
    result = subprocess.run(command, cwd=root)
    if result.returncode != 0:
        message = f"sphinx-build failed (warnings are errors): {' '.join(command)}"
        if not keep_going:
            raise BuildError(message)
        FAILURES.append(message)
    log(f"site in {out / 'index.html'} ({time.monotonic() - started:.1f} s)")
    return out


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m publish", description=__doc__.split("\n\n")[0])
    parser.add_argument("what", nargs="+", choices=["execute", "slides", "site"])
    parser.add_argument("--root", type=Path, default=REPO, help="the course sources (default: this repository)")
    parser.add_argument("--build", type=Path, help="the build folder (default: ROOT/build)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="notebooks executed at a time (default: 2)")
    parser.add_argument("--keep-going", action="store_true",
                        help="build what can be built when a notebook fails, then fail")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    build = (args.build or root / "build").resolve()
    steps = {"execute": execute, "slides": build_slides, "site": build_site}
    try:
        with locked(build):
            for what in dict.fromkeys(args.what):
                steps[what](root, build, args.jobs, args.keep_going)
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if FAILURES:
        print("error: " + "\n\n".join(FAILURES), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
