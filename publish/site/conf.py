"""Sphinx configuration of the course web site (python -m publish site, or make site).

publish/build.py copies this folder into build/site-src/ with the course's
.md notebooks as they are: myst-nb reads them (MyST notebooks, jupytext's
format) and takes their outputs from the execution cache (jupyter-cache) that
``python -m publish`` fills before Sphinx starts; it runs a notebook only if
the cache lacks it (a notebook changed after that), and then an error fails
the build. Every asset is local: the theme ships its own, search is Sphinx's
own index, and MathJax (only when a page has math) comes from a local copy.
"""

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
SETTINGS = json.loads((HERE / "_netcourse.json").read_text(encoding="utf-8"))

project = "Client/server networking in Python"
author = "the course authors"
copyright = "the course authors, MIT licence"
language = "en"

extensions = ["myst_nb"]
nb_execution_mode = "cache"  # outputs from jupyter-cache (build/jupyter-cache/<digest of sandbox/, checks/>/)
nb_execution_cache_path = SETTINGS["execution_cache"]
nb_execution_timeout = 300  # seconds per cell, as the test suite's
nb_execution_raise_on_error = True  # an error in a cell not tagged raises-exception stops the build
nb_execution_show_tb = True
nb_merge_streams = True
myst_heading_anchors = 3  # links such as chapter.md#a-section
myst_enable_extensions = ["dollarmath"]  # $...$ renders as in JupyterLab

exclude_patterns = ["_build", "**.ipynb_checkpoints", "sandbox/**", "_mathjax/**", "README.md"]

html_theme = "sphinx_book_theme"
html_title = project
html_static_path = ["_static"] + (["_mathjax"] if SETTINGS["math"] else [])
html_css_files = ["course.css"]  # _static/course.css: long code lines wrap in their box
html_theme_options = {
    # One search box: the one in the sidebar (and, on a phone, the header's magnifier), not a
    # second one in the header bar above it.
    "navbar_persistent": [],
    "show_toc_level": 2,
    "use_download_button": True,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "navigation_with_keys": False,
}
html_last_updated_fmt = None
html_copy_source = True

if SETTINGS["math"]:  # MathJax 2.7 from the jupyter-server-mathjax package, copied into _static
    mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"

# The notebooks' headings are laid out for slides (a subslide may go from # to ###);
# the site shows them as they are rather than fail on the jump.
suppress_warnings = ["myst.header"]
