"""Install the course's JupyterLab settings into the current Python environment.

    python jupyter/install_settings.py

JupyterLab reads ``overrides.json`` from ``<environment>/share/jupyter/lab/settings/``
and uses it as the default for every user of that environment: here, the course's
MyST ``.md`` notebooks open as notebooks (through jupytext) on a double click, and
RISE (jupyterlab-rise, also at ``/rise/<path>``) presents them with reveal.js's
``white`` theme, the one that loads no web font, headings left as written (its
``overlay`` is a style sheet), from the first slide, without transitions; and
JupyterLab asks nothing on its first start: no "get notified about Jupyter news?"
popup, no news or update check (which would need the internet).
Used by ``make lab`` and by Binder's ``postBuild``, so both get the same settings.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SETTINGS = ["overrides.json"]


def settings_dir(prefix: str = sys.prefix) -> Path:
    return Path(prefix) / "share" / "jupyter" / "lab" / "settings"


def install(prefix: str = sys.prefix) -> list[Path]:
    target = settings_dir(prefix)
    target.mkdir(parents=True, exist_ok=True)
    installed = []
    for name in SETTINGS:
        json.loads((HERE / name).read_text(encoding="utf-8"))  # refuse to install a broken file
        installed.append(Path(shutil.copy2(HERE / name, target / name)))
    return installed


if __name__ == "__main__":
    for path in install():
        print(f"installed {path}")
