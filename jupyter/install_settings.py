"""Install the course's JupyterLab settings into the current Python environment.

    python jupyter/install_settings.py

JupyterLab reads ``overrides.json`` from ``<environment>/share/jupyter/lab/settings/``
and uses it as the default for every user of that environment: here, the course's
MyST ``.md`` notebooks open as notebooks (through jupytext) on a double click, and
RISE (jupyterlab-rise, also at ``/rise/<path>``) presents them with reveal.js's
``white`` theme, the one that loads no web font, from the first slide, without
transitions, content from the top of the slide (``center`` off), and the course's
look for a projector: ``jupyter/slides.css`` (the decks' too), put into RISE's
``overlay`` setting here, as a ``<style>``, when the settings are installed; and
JupyterLab asks nothing on its first start: no "get notified about Jupyter news?"
popup, no news or update check (which would need the internet).
Used by ``make lab`` and by Binder's ``postBuild``, so both get the same settings.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SETTINGS = ["overrides.json"]
SLIDES_CSS = HERE / "slides.css"  # the slides' look: RISE's overlay, and the decks' (publish/deck/)


def settings_dir(prefix: str = sys.prefix) -> Path:
    return Path(prefix) / "share" / "jupyter" / "lab" / "settings"


def overrides() -> dict:
    """overrides.json as installed: RISE's overlay is the style sheet slides.css."""
    settings = json.loads((HERE / "overrides.json").read_text(encoding="utf-8"))  # refuses a broken file
    css = SLIDES_CSS.read_text(encoding="utf-8")
    settings["jupyterlab-rise:plugin"]["overlay"] = f"<style>\n{css}</style>"
    return settings


def rendered(name: str) -> bytes:
    """The content of the settings file ``name`` as installed."""
    if name == "overrides.json":
        return (json.dumps(overrides(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    return (HERE / name).read_bytes()


def install(prefix: str = sys.prefix) -> list[Path]:
    target = settings_dir(prefix)
    target.mkdir(parents=True, exist_ok=True)
    installed = []
    for name in SETTINGS:
        (target / name).write_bytes(rendered(name))
        installed.append(target / name)
    return installed


if __name__ == "__main__":
    for path in install():
        print(f"installed {path}")
