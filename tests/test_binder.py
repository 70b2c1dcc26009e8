"""Binder launches the repository with the same JupyterLab settings as ``make lab``.

Binder installs environment.yml, then runs ``postBuild``; ``make lab`` runs
``jupyter/install_settings.py``. Both must end with the same settings files, byte
for byte, in the environment's ``share/jupyter/lab/settings/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
POSTBUILD = ROOT / "postBuild"


def installer():
    sys.path.insert(0, str(ROOT / "jupyter"))
    try:
        import install_settings
    finally:
        sys.path.pop(0)
    return install_settings


def tree(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_binder_reads_the_files_at_the_root():
    # Binder ignores the root's files when a binder/ or .binder/ folder exists.
    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists()
    assert POSTBUILD.is_file() and os.access(POSTBUILD, os.X_OK), "postBuild must be executable"
    assert (ROOT / "environment.yml").is_file()


@pytest.mark.skipif(sys.platform == "win32", reason="postBuild is a bash script, as on Binder")
def test_postbuild_installs_the_settings_make_lab_installs(tmp_path):
    binder = tmp_path / "binder-env"
    venv.create(binder, with_pip=False)  # an environment of its own: Binder's, here
    bindir = binder / ("Scripts" if os.name == "nt" else "bin")
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")
    env.pop("PYTHONHOME", None)
    result = subprocess.run(["bash", str(POSTBUILD)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    by_binder = tree(binder / "share" / "jupyter" / "lab" / "settings")

    lab = tmp_path / "make-lab-env"  # what `make lab` runs, into another prefix
    installer().install(str(lab))
    by_make_lab = tree(lab / "share" / "jupyter" / "lab" / "settings")

    assert by_binder == by_make_lab
    assert set(by_binder) == set(installer().SETTINGS)
    for name in installer().SETTINGS:
        assert by_binder[name] == installer().rendered(name)


def test_installed_settings_carry_the_slides_look():
    """RISE's overlay is jupyter/slides.css, the sheet the decks use too; nothing else differs
    from jupyter/overrides.json."""
    installed = json.loads(installer().rendered("overrides.json"))
    css = (ROOT / "jupyter" / "slides.css").read_text(encoding="utf-8")
    assert installed["jupyterlab-rise:plugin"].pop("overlay") == f"<style>\n{css}</style>"
    assert installed == json.loads((ROOT / "jupyter" / "overrides.json").read_text(encoding="utf-8"))
    assert installed["jupyterlab-rise:plugin"]["center"] is False  # content from the top of the slide


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_lab_runs_the_same_installer():
    dry = subprocess.run(["make", "-n", "lab"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    assert "jupyter/install_settings.py" in dry.stdout
    assert "python jupyter/install_settings.py" in POSTBUILD.read_text(encoding="utf-8")


def test_environment_yml_installs_jupyterlab_rise_and_the_course():
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    names = {re.split(r"[<>=;\[ ]", line, maxsplit=1)[0].strip() for line in pip + conda}
    assert {"jupyterlab", "jupytext", "jupyterlab-rise", "playwright"} <= names
    assert "-e ." in pip  # the course itself


def test_apt_txt_gives_playwrights_chromium_what_it_needs():
    """Ubuntu's chromium package is a snap wrapper, useless in Binder's container: apt.txt has
    the libraries of Playwright's Chromium, which postBuild downloads, not a Chromium."""
    packages = [line.strip() for line in (ROOT / "apt.txt").read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#")]
    assert packages and not [p for p in packages if "chromium" in p or "chrome" in p]
    assert {"libnss3", "libgbm1", "libatk-bridge2.0-0"} <= set(packages)
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9.+-]*", p) for p in packages), "one package name a line"
    assert "python -m playwright install chromium" in POSTBUILD.read_text(encoding="utf-8")


def test_readme_has_the_binder_badge():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "https://mybinder.org/badge_logo.svg" in readme
    assert "https://mybinder.org/v2/gh/" in readme


def test_readme_says_the_one_edit_of_the_badge_and_how_to_run_a_class_on_a_hub():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    badge = re.search(r"https://mybinder\.org/v2/gh/([\w.-]+/[\w.-]+)/HEAD", readme)
    assert badge, "the Binder link names owner/repository"
    after = readme[badge.end():badge.end() + 600]
    assert badge.group(1) in after and "owner/repository" in after, "the edit is explained beside the badge"
    hub = readme[readme.index("### A class on a JupyterHub"):]
    assert "nbgitpuller" in hub and "git-pull?repo=" in hub
    assert re.search(r"\d+ MiB", hub) and "psutil" in hub, "measured memory, and how to measure it"
