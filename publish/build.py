"""Build the course's offline slide decks and web site from its notebooks.

    python -m publish execute    # run the course notebooks not run yet (jupyter-cache, build/jupyter-cache/)
    python -m publish slides     # build/slides/: one reveal.js deck per notebook, executed
    python -m publish site       # build/site/: the course as a static web site (Sphinx, myst-nb)
    python -m publish slides site --executed DIR   # outputs of notebooks already run (DIR/notebooks/04-http.ipynb...)

``make slides`` and ``make site`` run these. Both take the executed notebooks
from one execution cache, jupyter-cache's, the one myst-nb reads: a notebook
runs once for both, and again only when its code cells or the course's own
Python code (sandbox/, checks/) change. A notebook that fails to execute (an
error in a cell not tagged ``raises-exception``) fails the build, naming the
notebook and the cell.

The site is Sphinx with myst-nb, which reads the ``.md`` notebooks as they are
(no conversion) and takes their outputs from the cache (``nb_execution_mode =
"cache"``). The decks are nbconvert's reveal.js exporter, with a template of
the course's own (publish/deck/).

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
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import NamedTuple

from coursefiles import NOTEBOOK_DIRS, course_notebooks

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CELL_TIMEOUT = 300  # seconds, as the test suite's per-test timeout
# What the notebooks run besides their own cells: a change here re-executes them all.
COURSE_CODE = ("sandbox", "checks", "notebooks/chapter_tools")


class BuildError(RuntimeError):
    """The build cannot go on; the message says why, for a person."""


FAILURES: list[str] = []  # with --keep-going: what failed, reported at the end
FAILED: set[Path] = set()  # notebooks that failed in this run: not run again by the next step


# --------------------------------------------------------------------------- notebooks

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


class Notebook(NamedTuple):
    source: Path  # the .md in the course
    text: str  # as the build read it: what runs, and what the site's page is made of
    nb: object  # the notebook (nbformat), with its outputs once executed


def read_notebook(source: Path) -> Notebook:
    text = source.read_text(encoding="utf-8")
    return Notebook(source, text, notebook_of(text))


def notebook_of(text: str):
    import jupytext

    return jupytext.reads(text, fmt="md:myst")


def refuse_mermaid(notebooks) -> None:
    """Kept by hand: myst-nb and nbconvert would pass a mermaid block on to a mermaid.js from a CDN."""
    users = [str(source) for source, _, nb in notebooks if uses_mermaid(nb)]
    if users:
        raise BuildError("mermaid diagrams cannot be built offline yet (no local mermaid.js is shipped): "
                         + ", ".join(users))


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
    """One build at a time in a build folder.

    Kept by hand: two builds at once (``make slides`` and ``make site``, or two test
    workers) would each find a notebook missing from the cache and both run it;
    one after the other, the second finds it there.
    """
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
#
# The cache is jupyter-cache's, as myst-nb uses it: a notebook is matched by its
# code cells and kernel, and what is executed is stored there. Two pieces are kept
# by hand, because jupyter-cache and myst-nb do not do them:
#
# - the course's code: jupyter-cache only looks at the cells, but the notebooks
#   run the sandbox servers and the exercise checks, so the cache lives in a folder
#   named after a digest of sandbox/ and checks/ (build/jupyter-cache/<digest>/):
#   a change there starts a fresh cache, and every notebook runs again;
# - running the notebooks: myst-nb runs them one at a time, inside Sphinx, and
#   says only which notebook failed; the decks need them without Sphinx. Here they
#   run two at a time, each in its own folder (as in JupyterLab and under nbval),
#   a failure names the notebook and the cell, and --keep-going leaves the failed
#   ones out of the decks and the site.


def code_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for folder in COURSE_CODE:
        for path in sorted((root / folder).rglob("*")) if (root / folder).is_dir() else []:
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                digest.update(str(path.relative_to(root).as_posix()).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def cache_path(root: Path, build: Path) -> Path:
    return build / "jupyter-cache" / code_digest(root)


def open_cache(root: Path, build: Path):
    """The execution cache for the course as it is now; caches of older course code are removed."""
    try:
        from jupyter_cache import get_cache
    except ImportError as error:
        raise BuildError("jupyter-cache is missing: pip install -e '.[docs]' (make slides / make site do it)") \
            from error
    path = cache_path(root, build)
    if path.parent.is_dir():
        for other in path.parent.iterdir():
            if other != path and other.is_dir():
                shutil.rmtree(other, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    return get_cache(str(path))


def kernel_environment(root: Path) -> dict[str, str]:
    """The kernels' environment: the course importable, and the test suite's offline guard."""
    env = dict(os.environ)
    offline = REPO / "tests" / "offline"  # refuses connections and lookups that leave this machine
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(offline) if offline.is_dir() else "", str(root),
                                                      os.environ.get("PYTHONPATH", "")]))
    env.pop("MPLBACKEND", None)  # the kernel's inline backend: figures become outputs
    return env


def _execute_one(text: str, folder: str, rel: str, env: dict) -> tuple[str, float, str | None, str | None]:
    """Run one notebook in a fresh kernel, in its folder (in a worker process): (rel, seconds, notebook, error)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    started = time.monotonic()
    nb = notebook_of(text)
    # No timing in the cells' metadata: jupyter-cache's key covers it, and it would never match.
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": folder}})
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as kernel_log:
        try:
            client.execute(stderr=kernel_log, env=env)  # the kernel's own chatter, shown only on failure
        except (CellExecutionError, CellTimeoutError) as error:
            return rel, time.monotonic() - started, None, _cell_error(nb, error)
        except Exception as error:  # the kernel died, did not start...
            kernel_log.seek(0)
            return rel, time.monotonic() - started, None, f"{type(error).__name__}: {error}\n{kernel_log.read()[-2000:]}"
    return rel, time.monotonic() - started, nbformat.writes(nb), None


def _cell_error(nb, error) -> str:
    failed = [i for i, cell in enumerate(nb.cells)
              if any(o.get("output_type") == "error" for o in cell.get("outputs", []))
              and "raises-exception" not in cell.get("metadata", {}).get("tags", [])]
    where = f"cell {failed[0]} (counting from 0)" if failed else "a cell"
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip()
    return f"{where} failed:\n{text[-3000:]}"


def not_executed(cache, notebooks: list[Notebook]) -> list[Notebook]:
    """The notebooks the cache lacks (their code, or the course's, changed)."""
    missing = []
    for notebook in notebooks:
        try:
            cache.match_cache_notebook(notebook.nb)
        except KeyError:
            missing.append(notebook)
    return missing


def store(cache, nb, uri: str, **data) -> None:
    """Keep ``nb``, executed, in the cache under its code's key (replacing an older run of that code)."""
    from jupyter_cache.base import CacheBundleIn

    cache.cache_notebook_bundle(CacheBundleIn(nb, uri, data=data), check_validity=False, overwrite=True)


def take_executed(cache, notebooks: list[Notebook], folder: Path, root: Path) -> list[Notebook]:
    """Store in the cache the notebooks already run elsewhere (``--executed FOLDER``); those left to run.

    The test suite runs every notebook under nbval as this build would (a fresh kernel in the
    notebook's folder, the same environment) and keeps each run that passed as an ``.ipynb``
    (FOLDER/notebooks/04-http.ipynb...): the decks and the site take those outputs rather than
    run each notebook once more. A run is taken only if its code cells are the notebook's.
    """
    import copy

    import nbformat

    left = []
    for notebook in notebooks:
        ran = folder / notebook.source.relative_to(root).with_suffix(".ipynb")
        mine = [cell for cell in notebook.nb.cells if cell.cell_type == "code"]
        theirs = [cell for cell in nbformat.read(ran, as_version=4).cells if cell.cell_type == "code"] \
            if ran.is_file() else None
        if theirs is None or [cell.source for cell in theirs] != [cell.source for cell in mine]:
            left.append(notebook)
            continue
        nb = copy.deepcopy(notebook.nb)
        for cell, done in zip((cell for cell in nb.cells if cell.cell_type == "code"), theirs):
            cell.outputs, cell.execution_count = done.outputs, done.execution_count
        store(cache, nb, str(notebook.source), executed=str(ran))
    if len(left) < len(notebooks):
        log(f"{len(notebooks) - len(left)} notebook(s) already run, taken from {folder}")
    return left


def execute(root: Path = REPO, build: Path | None = None, jobs: int = 2,
            keep_going: bool = False, executed: Path | None = None) -> tuple[Path, list[Notebook]]:
    """The cache folder, and every course notebook with its outputs; those not in the cache run first
    (unless ``executed`` holds a run of them: ``take_executed``).

    A notebook that fails raises BuildError; with ``keep_going``, the failures are kept
    in ``FAILURES`` (reported at the end by ``main``) and the others are returned.
    The cache folder is the one for the course's code as it was when the build started:
    the site (myst-nb) must read the same one, even if sandbox/ changes meanwhile.
    """
    import nbclient  # noqa: F401 (imported here once, not in each worker)
    import nbformat

    build = build or root / "build"
    cache = open_cache(root, build)
    notebooks = [read_notebook(source) for source in course_notebooks(root)]
    refuse_mermaid(notebooks)
    todo = [notebook for notebook in not_executed(cache, notebooks) if notebook.source not in FAILED]
    if executed is not None and todo:
        todo = take_executed(cache, todo, executed, root)
    if todo:
        log(f"executing {len(todo)} notebook(s), {jobs} at a time")
        started, failures = time.monotonic(), []
        rels = [notebook.source.relative_to(root).as_posix() for notebook in todo]
        arguments = ([n.text for n in todo], [str(n.source.parent) for n in todo], rels,
                     [kernel_environment(root)] * len(todo))
        # Two at a time, in worker processes (a notebook's kernel is a process of its own anyway).
        # One at a time (--jobs 1, or one notebook to run): in this process.
        parallel = jobs > 1 and len(todo) > 1
        pool = ProcessPoolExecutor(min(jobs, len(todo))) if parallel else nullcontext()
        with pool:
            results = (pool.map if parallel else map)(_execute_one, *arguments)
            for notebook, (rel, seconds, executed, error) in zip(todo, results):
                log(f"  {rel}: {'FAILED' if error else 'ok'} in {seconds:.1f} s")
                if error:
                    failures.append(f"{rel}: {error}")
                    FAILED.add(notebook.source)
                else:
                    store(cache, nbformat.reads(executed, as_version=4), str(notebook.source), execution_seconds=seconds)
        log(f"executed in {time.monotonic() - started:.1f} s")
        if failures:
            message = "notebook(s) failed to execute:\n\n" + "\n\n".join(failures)
            if not keep_going:
                raise BuildError(message)
            FAILURES.append(message)
            log(f"error: {message}")
    else:
        failed = f", {len(FAILED)} failed above" if FAILED else ""
        log(f"no notebook to execute: {len(notebooks) - len(FAILED)} in the cache ({cache.path}){failed}")
    executed = []
    for notebook in notebooks:
        try:
            executed.append(notebook._replace(nb=cache.merge_match_into_notebook(notebook.nb)[1]))
        except KeyError:  # it failed (--keep-going)
            pass
    return Path(cache.path), executed


# --------------------------------------------------------------------------- slides
#
# Kept by hand: myst-nb builds web pages, not reveal.js decks; nbconvert's
# exporter makes the decks, from the executed notebooks of the cache.

DECK_TEMPLATE = "deck"  # publish/deck/: nbconvert's reveal template with local assets
SLIDES_CSS = REPO / "jupyter" / "slides.css"  # the slides' look, RISE's too (jupyter/install_settings.py)
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


def build_slides(root: Path = REPO, build: Path | None = None, jobs: int = 2, keep_going: bool = False,
                 executed: Path | None = None) -> list[Path]:
    from nbconvert import SlidesExporter
    from traitlets.config import Config

    build = build or root / "build"
    _, notebooks = execute(root, build, jobs, keep_going, executed)
    started = time.monotonic()
    out = build / "slides"
    static = out / "_static"
    keep: set[Path] = set()
    reveal = reveal_assets(static)
    math = any(uses_math(notebook.nb) for notebook in notebooks)
    if math:
        mathjax = mathjax_assets(static)
    else:
        shutil.rmtree(static / "mathjax", ignore_errors=True)
    keep |= {p for p in static.rglob("*") if p.is_file()}
    decks = []
    slides_css = SLIDES_CSS.read_text(encoding="utf-8")
    for source, _, nb in notebooks:
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
                                                               "netcourse": {"mathjax_url": mathjax_url,
                                                                             "slides_css": slides_css}})
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
    """The decks' index page: the chapters in their order, then each exercise with its solution."""
    found = {rel.as_posix(): (deck, title) for rel, deck, title in decks}

    def link(rel: str, text: str | None = None) -> str:
        deck, title = found[rel]
        return f'<a href="{html.escape(deck.relative_to(out).as_posix())}">{html.escape(text or title)}</a>'

    chapters = [f"<li>{link(rel)}</li>" for rel in sorted(found) if rel.startswith("notebooks/")]
    practice = []
    for rel in sorted(r for r in found if r.startswith("exercises/")):
        solution = "solutions/" + rel.split("/", 1)[1]
        extra = f' <span class="solution">· {link(solution, "solution")}</span>' if solution in found else ""
        practice.append(f"<li>{link(rel)}{extra}</li>")
    practice += [f'<li>{link(rel)} <span class="solution">(solution)</span></li>' for rel in sorted(found)
                 if rel.startswith("solutions/") and "exercises/" + rel.split("/", 1)[1] not in found]
    sections = [(heading, items) for heading, items in (("Chapters", chapters), ("Exercises", practice)) if items]
    body = "\n".join(f"<h2>{heading}</h2>\n<ol>\n" + "\n".join(items) + "\n</ol>" for heading, items in sections)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Course slides</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; max-width: 46em; margin: 2em auto; padding: 0 1em; line-height: 1.6; color: #222 }}
h1 {{ font-size: 1.7em; margin-bottom: .2em }}
h2 {{ font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd }}
ol {{ list-style: none; padding: 0 }}
li {{ padding: .25em 0 }}
a {{ color: #1f5fbf; text-decoration: none }}
a:hover {{ text-decoration: underline }}
.solution, .solution a {{ color: #555; font-size: .95em }}
kbd {{ border: 1px solid #bbb; border-radius: 3px; padding: 0 .3em; font-size: .9em }}
</style>
</head><body>
<h1>Client/server networking in Python: slides</h1>
<p>Open a deck; arrow keys move between slides, <kbd>S</kbd> opens the speaker notes, <kbd>Esc</kbd> the overview.</p>
{body}
</body></html>
"""


# --------------------------------------------------------------------------- site
#
# build/site-src/ is Sphinx's source folder: publish/site/ (conf.py, the home page),
# the course's .md notebooks as they are, the files beside them and the sandbox's
# source (notebooks link to them: downloadable files), and the pages made here
# (kept by hand: they come from the repository's layout and the servers' own
# source, not from a notebook): the exercises listing and the servers' reference.

SITE_SOURCES = HERE / "site"


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
    # A module and its continuation beside it, if any (httpbin.py, httpbin_more.py): the whole server.
    return [path for path in (base.with_suffix(".py"), base.with_name(f"{base.name}_more.py")) if path.is_file()]


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
        parts = [f"# `{name}`: {description}", "", f"Module `{module}`. Start it with `launch(\"{name}\", ...)` "
                 f"or `python -m sandbox {name} ...`: its options (below) become keyword arguments, "
                 "`--idle-timeout 5` is `idle_timeout=5`.", "", "## What it does", "",
                 fenced(docstring(files[0]) or description, "text"), "## Command line", "",
                 fenced(f"$ python -m sandbox {name} --help\n{result.stdout}", "text"), "## Source", ""]
        for path in files:
            source = path.read_text(encoding="utf-8")
            parts += [f"### `{path.relative_to(root).as_posix()}`", "", fenced(source, "python")]
        pages[f"reference/{name}.md"] = "\n".join(parts)
    return pages


def exercises_page(root: Path, sources: list[Path]) -> str:
    """Each exercise, then its solution, each a page of its own."""
    names = {source.relative_to(root).with_suffix("").as_posix() for source in sources}
    exercises = sorted(s for s in names if s.startswith("exercises/"))
    lines = ["# Exercises", "", "One exercise notebook per chapter; its solution is on the page after it.", ""]
    entries = []
    for exercise in exercises:
        entries.append(exercise)
        solution = "solutions/" + exercise.split("/", 1)[1]
        if solution in names:
            entries.append(solution)
    entries += sorted(s for s in names if s.startswith("solutions/") and s not in entries)
    if entries:
        lines += ["```{toctree}", ":maxdepth: 1", "", *entries, "```", ""]
    else:
        lines += ["There are no exercises yet.", ""]
    return "\n".join(lines)


SETUP_HEADING = re.compile(r"^#{1,6}\s+Before we start\s*$")
SETUP_TAG = "hide-cell"  # myst-nb: the cell, input and output, folded behind a "Show code cell" toggle


def site_page(notebook: Notebook):
    """The page's notebook, with its outputs: its *Before we start* code cells (the chapter's imports
    and setup, the first code a reader would see) tagged ``hide-cell``, so that the site folds them;
    None if it has none.

    The tag is added here, at build time: the notebooks stay as they are, for JupyterLab and the
    slides. jupyter-cache matches a notebook by its code cells' source *and metadata*, so the
    tagged page is not the notebook that ran: ``assemble_site`` stores it in the cache too, with the
    outputs of that run, or myst-nb would run the notebook again.
    """
    import copy

    nb = copy.deepcopy(notebook.nb)
    setup, changed = False, False
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            first = cell.source.strip().splitlines()[:1]
            setup = bool(first and SETUP_HEADING.match(first[0]))
        elif setup and cell.cell_type == "code":
            tags = cell.metadata.setdefault("tags", [])
            if SETUP_TAG not in tags:
                tags.append(SETUP_TAG)
                changed = True
    return nb if changed else None


def assemble_site(root: Path, build: Path, cache: Path, notebooks: list[Notebook]) -> Path:
    """``build/site-src/``: the site's sources, written only where they changed."""
    src = build / "site-src"
    keep: set[Path] = set()
    copy_tree(SITE_SOURCES, src, keep)
    import jupytext
    from jupyter_cache import get_cache

    executed = get_cache(str(cache))
    for notebook in notebooks:  # the .md as executed: myst-nb reads it, and finds its outputs in the cache
        page = src / notebook.source.relative_to(root)
        folded = site_page(notebook)
        if folded is not None:  # its outputs under the page's own key (site_page says why)
            store(executed, folded, str(page))
        # jupytext's MyST text holds no outputs: myst-nb takes them from the cache, as for every page
        write_if_changed(page, notebook.text if folded is None else jupytext.writes(folded, fmt="md:myst"))
        keep.add(page)
    pages = {"exercises.md": exercises_page(root, [n.source for n in notebooks]), **reference_pages(root)}
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
    math = any(uses_math(notebook.nb) for notebook in notebooks)
    settings = {"math": math, "reference": bool(pages.keys() - {"exercises.md"}), "execution_cache": str(cache)}
    write_if_changed(src / "_netcourse.json", json.dumps(settings))
    keep.add(src / "_netcourse.json")
    if math:
        mathjax_assets(src / "_mathjax")
        keep |= {p for p in (src / "_mathjax").rglob("*") if p.is_file()}
    remove_others(src, keep)
    return src


def build_site(root: Path = REPO, build: Path | None = None, jobs: int = 2, keep_going: bool = False,
               executed: Path | None = None) -> Path:
    build = build or root / "build"
    cache, notebooks = execute(root, build, jobs, keep_going, executed)
    started = time.monotonic()
    src = assemble_site(root, build, cache, notebooks)
    out = build / "site"
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q",
               "-d", str(build / "site-doctrees"), str(src), str(out)]
    # myst-nb finds every notebook in the cache; were one missing, it would run it in this environment.
    result = subprocess.run(command, cwd=root, env=kernel_environment(root))
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
    parser.add_argument("--executed", type=Path, metavar="FOLDER",
                        help="notebooks already run, as FOLDER/notebooks/04-http.ipynb...: their outputs are "
                             "taken where their code is the notebook's (the test suite's nbval run)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    build = (args.build or root / "build").resolve()
    steps = {"execute": execute, "slides": build_slides, "site": build_site}
    try:
        with locked(build):
            for what in dict.fromkeys(args.what):
                steps[what](root, build, args.jobs, args.keep_going, args.executed and args.executed.resolve())
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if FAILURES:
        print("error: " + "\n\n".join(FAILURES), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
