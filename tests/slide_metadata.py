"""The slides a notebook should make, from its slide metadata (tests/test_slides.py, test_rise.py).

What the tests of the decks (reveal.js, ``make slides``) and of RISE compare a
presented notebook with: how many slides, where, and the headings on each.
"""

from __future__ import annotations

import html
import re


# The longest code line a slide shows uncut, in characters, at the slides' code size
# (jupyter/slides.css): tests/test_rise.py checks that RISE shows one this long whole.
MAX_CODE_LINE = 120


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


def one_cell_notebook(title: str, code: str) -> str:
    """A course notebook's text: one slide with a heading, then one code cell."""
    from coursefiles import MYST_HEADER

    return MYST_HEADER + f"""
+++ {{"slideshow": {{"slide_type": "slide"}}}}

# {title}

```{{code-cell}} ipython3
---
slideshow:
  slide_type: "-"
---
{code}
```
"""
