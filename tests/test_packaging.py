"""The two install routes (pip with pyproject.toml, conda with environment.yml) agree.

environment.yml lists each Python package once: from conda-forge (a conda match spec,
``name>=X,<Y``, under ``dependencies``) where conda-forge has it, else from PyPI (its
``pip:`` section), always with pyproject.toml's range. Conda's own entries besides: the
Python for repo2docker (``python=X.Y``), pip, make, and PostgreSQL with libpq.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

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


# conda-forge's names for PyPI packages, where they differ
CONDA_NAMES = {"matplotlib-base": "matplotlib"}  # matplotlib without a GUI toolkit
# conda packages that are not Python packages of pyproject.toml: what each is for
CONDA_ONLY = {"python", "pip", "make", "postgresql", "libpq"}


def environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))


def conda_entries() -> list[str]:
    return [d for d in environment()["dependencies"] if isinstance(d, str)]


def conda_name(entry: str) -> str:
    return re.split(r"[<>=!~ ]", entry, maxsplit=1)[0].strip().lower()


def pip_entries() -> list[str]:
    return next(d["pip"] for d in environment()["dependencies"] if isinstance(d, dict) and "pip" in d)


def environment_requirements() -> dict[str, str]:
    """{name: "specifier; marker"} of every Python package environment.yml installs, conda's and pip's."""
    conda = [entry for entry in conda_entries() if conda_name(entry) not in CONDA_ONLY]
    for entry in conda:  # a conda match spec, in the form PyPI's requirements take too
        assert ";" not in entry and "[" not in entry, f"{entry}: conda has no markers or extras: list it under pip"
    renamed = [CONDA_NAMES.get(conda_name(entry), conda_name(entry)) + entry[len(conda_name(entry)):]
               for entry in conda]
    specs = renamed + [s for s in pip_entries() if not s.startswith("-e")]
    return normalized(specs)


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
    assert "-e ." in pip_entries()


def test_environment_gives_python_as_repo2docker_reads_it():
    """repo2docker takes the Python version only from an exact ``python=X.Y`` (else its default)."""
    pythons = [entry for entry in conda_entries() if conda_name(entry) == "python"]
    assert len(pythons) == 1 and re.fullmatch(r"python=3\.\d+", pythons[0]), pythons
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["requires-python"]
    assert SpecifierSet(requires).contains(pythons[0].split("=")[1]), f"{pythons[0]} against requires-python {requires}"


def test_environment_has_postgresql_and_the_client_library_for_psycopg():
    names = {conda_name(entry) for entry in conda_entries()}
    assert {"postgresql", "libpq"} <= names  # initdb and postgres for sandbox/postgres.py; psycopg's libpq
    assert "psycopg" in names, "psycopg from conda-forge, with its libpq"


def test_environment_takes_from_conda_forge_what_it_can():
    """The pip section keeps only what conda cannot give: not on conda-forge, an extra, a marker."""
    env = environment()
    assert env["channels"] == ["conda-forge"]
    from_pip = {Requirement(s).name.lower() for s in pip_entries() if not s.startswith("-e")}
    not_on_conda_forge = {"jupyterlab-rise", "flask-sock", "sphinx-revealjs", "playwright"}
    for spec in pip_entries():
        if spec.startswith("-e"):
            continue
        req = Requirement(spec)
        assert req.name.lower() in not_on_conda_forge or req.extras or req.marker, f"{spec}: from conda-forge"
    assert len(from_pip) < len(conda_entries()) - len(CONDA_ONLY), "most packages from conda-forge"


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
