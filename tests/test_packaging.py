"""The two install routes (pip with pyproject.toml, conda with environment.yml) agree."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def normalized(specs) -> dict[str, str]:
    """{name: "specifier; marker"} with names and specifiers in canonical form."""
    result = {}
    for spec in specs:
        req = Requirement(spec)
        name = req.name.lower().replace("_", "-")
        assert name not in result, f"{name} listed twice"
        result[name] = f"{req.specifier}; {req.marker or ''}"
    return result


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        specs += extra
    return normalized(specs)


def environment_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return normalized(s for s in pip_section if not s.startswith("-e"))


def test_environment_yml_matches_pyproject():
    pip, conda = pyproject_requirements(), environment_requirements()
    assert sorted(set(pip) - set(conda)) == [], "in pyproject.toml only"
    assert sorted(set(conda) - set(pip)) == [], "in environment.yml only"
    differing = {name: (pip[name], conda[name]) for name in pip if pip[name] != conda[name]}
    assert differing == {}, "version ranges differ (pyproject, environment.yml)"


def test_every_dependency_is_pinned_to_a_range():
    for name, spec in pyproject_requirements().items():
        specifier = spec.split(";")[0]
        assert ">=" in specifier and "<" in specifier.replace("<=", ""), f"{name}: {specifier} is not a compatible range"


def test_environment_installs_the_course_itself():
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert "-e ." in pip_section
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert Requirement(python).specifier.contains("3.10")


def test_lab_settings_open_markdown_as_notebooks(tmp_path):
    sys.path.insert(0, str(ROOT / "jupyter"))
    try:
        import install_settings
    finally:
        sys.path.pop(0)
    installed = install_settings.install(str(tmp_path))
    overrides = yaml.safe_load(installed[0].read_text(encoding="utf-8"))
    viewers = overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers == {"markdown": "Jupytext Notebook", "myst": "Jupytext Notebook"}
    assert installed[0] == tmp_path / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
