"""Sphinx configuration of the course web site (python -m publish site, or make site).

publish/build.py copies this folder into build/site-src/ with the executed
notebooks (.ipynb, outputs included), so Sphinx executes nothing: myst-nb only
renders. Every asset is local: the theme ships its own, search is Sphinx's
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
nb_execution_mode = "off"  # the notebooks arrive executed (build/executed/)
nb_merge_streams = True
myst_heading_anchors = 3  # links such as chapter.md#a-section
myst_enable_extensions = ["dollarmath"]  # $...$ renders as in JupyterLab

exclude_patterns = ["_build", "**.ipynb_checkpoints", "sandbox/**", "_mathjax/**", "README.md"]

html_theme = "sphinx_book_theme"
html_title = project
html_static_path = ["_mathjax"] if SETTINGS["math"] else []
html_theme_options = {
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
