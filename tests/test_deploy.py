"""The deployment files of chapter 10 (deploy/): each one is checked by a test
that fails when the file is wrong, not only when it is missing.

- the service (contacts_service.py) and its WSGI entry point (wsgi.py): settings
  from the environment, the API, one JSON log line per request, /healthz;
- healthcheck.py: exit status 0 for a healthy service, 1 otherwise;
- nginx.conf: ``nginx -t`` accepts it, and a real nginx with it proxies to the
  service (Debian's ``nginx``; skipped without it, a failure under CI);
- netcourse.service: ``systemd-analyze verify`` accepts it (when available), and
  its essential keys are there;
- Dockerfile: parsed with dockerfile-parse, then checked: a pinned base image, a
  user other than root, the exposed port, a health check, gunicorn as the command,
  and files that exist;
- requirements.txt: the same ranges as pyproject.toml.
"""

from __future__ import annotations

import configparser
import importlib.util
import io
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import flask
import pytest
import requests
from packaging.requirements import Requirement

from sandbox import launch

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
sys.path.insert(0, str(DEPLOY))
import contacts_service  # noqa: E402
import healthcheck  # noqa: E402

sys.path.remove(str(DEPLOY))

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def missing(what: str) -> None:
    """Skip for want of a system program; under CI (where .ci/run installs it), fail instead."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing, and CI is set: .ci/run installs it")
    pytest.skip(f"{what} is not installed (Debian: apt install {what.split()[0]})")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --------------------------------------------------------------------------- the service


def load_wsgi(name: str = "deploy_wsgi"):
    """deploy/wsgi.py as a server imports it: from its own folder."""
    sys.path.insert(0, str(DEPLOY))
    try:
        spec = importlib.util.spec_from_file_location(name, DEPLOY / "wsgi.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(DEPLOY))
    return module


@pytest.fixture
def client(monkeypatch):
    for variable in ("DATABASE_URL", "LOG_LEVEL", "TRUSTED_PROXIES"):
        monkeypatch.delenv(variable, raising=False)
    return load_wsgi().app.test_client()


def test_wsgi_entry_point_serves_a_request(client):
    health = client.get("/healthz")
    assert health.status_code == 200 and health.get_json() == {"status": "ok", "database": "in memory"}
    contacts = client.get("/api/contacts").get_json()
    assert [c["name"] for c in contacts] == ["Ada", "Alan", "Grace"]


def test_the_api(client):
    created = client.post("/api/contacts", json={"name": "Linus Pauling", "email": "linus@example.org"})
    assert created.status_code == 201 and created.headers["Location"] == "/api/contacts/Linus%20Pauling"
    assert client.get("/api/contacts/Linus Pauling").get_json() == {
        "name": "Linus Pauling", "email": "linus@example.org", "phone": None}
    assert client.post("/api/contacts", json={"name": "Ada"}).status_code == 409
    for bad in [{"email": "x@example.org"}, {"name": ""}, {"name": "X", "age": 3}, {"name": "X", "phone": 7},
                {"name": "X" * 201}, ["Ada"]]:
        answer = client.post("/api/contacts", json=bad)
        assert answer.status_code == 400 and "error" in answer.get_json(), bad
    missing_one = client.get("/api/contacts/Nobody")
    assert missing_one.status_code == 404 and missing_one.get_json() == {"error": "no contact named 'Nobody'"}
    assert client.delete("/api/contacts").status_code == 405 and client.get("/nowhere").is_json
    too_big = client.post("/api/contacts", data=b"x" * 70_000, content_type="application/json")
    assert too_big.status_code == 413


def test_settings_come_from_the_environment():
    assert contacts_service.Settings.from_env({}) == contacts_service.Settings(None, "INFO", 0)
    settings = contacts_service.Settings.from_env(
        {"DATABASE_URL": "postgresql://app:s3cret@db.internal:5432/contacts", "LOG_LEVEL": "warning",
         "TRUSTED_PROXIES": "1"})
    assert (settings.log_level, settings.trusted_proxies) == ("WARNING", 1)
    assert "s3cret" not in repr(settings) and "postgresql://app:***@db.internal:5432/contacts" in repr(settings)
    for bad in [{"TRUSTED_PROXIES": "one"}, {"LOG_LEVEL": "LOUD"}]:
        with pytest.raises(ValueError):
            contacts_service.Settings.from_env(bad)


def test_one_json_log_line_per_request(client):
    stream = io.StringIO()
    contacts_service.log.handlers[0].setStream(stream)  # standard error, in production
    client.get("/api/contacts", headers={"X-Request-ID": "abc123"})
    client.get("/api/contacts/Nobody")
    lines = stream.getvalue().splitlines()
    entries = [json.loads(line) for line in lines]
    assert [(e["message"], e["method"], e["path"], e["status"]) for e in entries] == [
        ("request", "GET", "/api/contacts", 200), ("request", "GET", "/api/contacts/Nobody", 404)]
    assert entries[0]["request_id"] == "abc123" and re.fullmatch(r"[0-9a-f]{32}", entries[1]["request_id"])
    assert all(e["ms"] >= 0 and e["level"] == "INFO" for e in entries)


def test_proxy_headers_are_believed_only_when_configured():
    forwarded = {"X-Forwarded-For": "203.0.113.7"}  # anyone can send this header
    for proxies, expected in [(0, "127.0.0.1"), (1, "203.0.113.7")]:
        app = contacts_service.create_app(contacts_service.Settings(trusted_proxies=proxies))
        seen = []
        app.after_request(lambda response: seen.append(flask.request.remote_addr) or response)
        app.test_client().get("/healthz", headers=forwarded)  # from 127.0.0.1
        assert seen == [expected]


@pytest.mark.skipif(os.name == "nt", reason="gunicorn: Linux and macOS only")
def test_served_by_gunicorn_and_checked_by_healthcheck(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with launch("app", app=DEPLOY / "wsgi.py", server="gunicorn", workers=2, replace=False) as srv:
        assert requests.get(f"{srv.url}/api/contacts", timeout=5).status_code == 200
        assert healthcheck.main([f"{srv.url}/healthz"]) == 0
        assert healthcheck.main([f"{srv.url}/nowhere"]) == 1  # 404 is not healthy
    assert healthcheck.main([f"http://127.0.0.1:{free_port()}/healthz"]) == 1  # nobody listens
    log = [json.loads(line) for line in srv.log.splitlines() if line.startswith("{")]
    assert {e["message"] for e in log} == {"started", "request"}


# --------------------------------------------------------------------------- requirements


def test_requirements_match_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    course = {Requirement(spec).name: Requirement(spec) for spec in project["dependencies"]}
    lines = [line for line in (DEPLOY / "requirements.txt").read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines, "deploy/requirements.txt lists nothing"
    for line in lines:
        needed = Requirement(line)
        assert needed.name in course, f"{needed.name} is in deploy/requirements.txt, not in pyproject.toml"
        assert needed.specifier == course[needed.name].specifier, needed.name
        assert needed.extras == course[needed.name].extras, needed.name
    assert {"flask", "gunicorn", "psycopg"} <= {Requirement(line).name for line in lines}


# --------------------------------------------------------------------------- nginx


def nginx_program() -> str:
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
                                           if os.access(p, os.X_OK)), None)
    if not found:
        missing("nginx")
    return found


def nginx_setup(tmp_path: Path, listen: int, upstream: int) -> list[str]:
    """Our server block inside a minimal main configuration, every path in tmp_path;
    the nginx command line (without -t or -g) that uses it."""
    ours = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    rewritten = (ours.replace("listen 80;", f"listen 127.0.0.1:{listen};")
                 .replace("server 127.0.0.1:8000 ", f"server 127.0.0.1:{upstream} ")
                 .replace("/var/log/nginx/", f"{tmp_path.as_posix()}/"))
    assert rewritten.count(str(listen)) == 1 and rewritten.count(f":{upstream} ") == 1, "nginx.conf changed shape"
    (tmp_path / "netcourse.conf").write_text(rewritten, encoding="utf-8")
    temp = "\n".join(f"    {kind}_temp_path {tmp_path / kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                           "uwsgi", "scgi"))
    (tmp_path / "nginx.conf").write_text(f"""
pid {tmp_path / 'nginx.pid'};
error_log {tmp_path / 'error.log'};
worker_processes 1;
events {{ worker_connections 64; }}
http {{
    access_log {tmp_path / 'access.log'};
{temp}
    include {tmp_path / 'netcourse.conf'};
}}
""", encoding="utf-8")
    return [nginx_program(), "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(tmp_path / "nginx.conf")]


def test_nginx_accepts_the_configuration(tmp_path):
    command = nginx_setup(tmp_path, free_port(), 8000)
    result = subprocess.run(command + ["-t"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr and "test is successful" in result.stderr


def test_nginx_proxies_to_the_service(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("TRUSTED_PROXIES", "1")
    port = free_port()
    with launch("app", app=DEPLOY / "wsgi.py", replace=False) as srv:
        command = nginx_setup(tmp_path, port, srv.port)
        nginx = subprocess.Popen(command + ["-g", "daemon off;"], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 15
            while True:  # nginx prints nothing when ready: wait until it accepts connections
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if nginx.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(f"nginx did not start: {nginx.stdout.read()}"
                                    f"{(tmp_path / 'error.log').read_text(errors='replace')}")
                    time.sleep(0.05)
            url = f"http://127.0.0.1:{port}"
            answer = requests.get(f"{url}/api/contacts", headers={"X-Request-ID": "from-the-client"}, timeout=5)
            assert answer.status_code == 200 and [c["name"] for c in answer.json()] == ["Ada", "Alan", "Grace"]
            assert answer.headers["Server"] == "nginx"  # server_tokens off: no version
            request_id = answer.headers["X-Request-ID"]  # nginx's own id replaced the client's; the service echoes it
            assert re.fullmatch(r"[0-9a-f]{32}", request_id)
            assert requests.get(f"{url}/healthz", timeout=5).json()["status"] == "ok"  # from 127.0.0.1: allowed
            too_big = requests.post(f"{url}/api/contacts", data=b"x" * 100_000, timeout=5)
            assert too_big.status_code == 413 and "nginx" in too_big.text  # stopped by nginx, not Python
        finally:
            nginx.terminate()
            nginx.wait(timeout=10)
    entries = [json.loads(line) for line in srv.log.splitlines() if line.startswith("{")]
    seen = next(e for e in entries if e.get("request_id") == request_id)
    assert seen["path"] == "/api/contacts" and seen["client"] == "127.0.0.1"
    assert "/api/contacts" in (tmp_path / "netcourse.access.log").read_text()


# --------------------------------------------------------------------------- systemd


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)  # systemd allows repeated keys
    parser.optionxform = str  # keys are case-sensitive
    parser.read(DEPLOY / "netcourse.service", encoding="utf-8")
    return parser


def test_systemd_unit_has_the_essentials():
    service = unit()
    assert set(service.sections()) == {"Unit", "Service", "Install"}
    s = service["Service"]
    start = shlex.split(s["ExecStart"])
    assert Path(start[0]).is_absolute() and Path(start[0]).name == "gunicorn"
    assert start[-1] == "wsgi:app" and "--bind" in start and start[start.index("--bind") + 1] == "127.0.0.1:8000"
    assert s["Restart"] in ("on-failure", "always") and s["User"] not in ("", "root", "0")
    assert s["EnvironmentFile"].startswith("/") and s["Type"] == "notify"
    # Secrets belong in the EnvironmentFile, never in the unit itself.
    for line in (DEPLOY / "netcourse.service").read_text(encoding="utf-8").splitlines():
        if line.startswith("Environment="):
            assert not re.search(r"PASSWORD|SECRET|TOKEN|DATABASE_URL|://[^/@]*:[^@]*@", line, re.I), line
    post = shlex.split(s["ExecStartPost"])
    assert Path(post[1]).name == "healthcheck.py" and post[-1] == "http://127.0.0.1:8000/healthz"
    assert Path(s["WorkingDirectory"], "wsgi.py").parent.as_posix() == str(Path(post[1]).parent.as_posix())
    assert service["Install"]["WantedBy"] == "multi-user.target"


def test_systemd_analyze_verifies_the_unit(tmp_path):
    program = shutil.which("systemd-analyze")
    if program is None:
        pytest.skip("systemd-analyze is not installed (systemd)")
    # verify checks that the programs exist: point /srv/netcourse at a stand-in.
    text = (DEPLOY / "netcourse.service").read_text(encoding="utf-8")
    text = text.replace("/srv/netcourse", str(tmp_path / "srv")).replace("/etc/netcourse", str(tmp_path))
    for program_path in [tmp_path / "srv" / ".venv" / "bin" / "gunicorn", tmp_path / "srv" / ".venv" / "bin" / "python"]:
        program_path.parent.mkdir(parents=True, exist_ok=True)
        program_path.write_text("#!/bin/sh\n")
        program_path.chmod(0o755)
    (tmp_path / "netcourse.env").write_text("LOG_LEVEL=INFO\n")
    (tmp_path / "netcourse.service").write_text(text, encoding="utf-8")
    result = subprocess.run([program, "verify", str(tmp_path / "netcourse.service")],
                            capture_output=True, text=True, timeout=60)
    # Unknown keys or bad values are only warned about ("..., ignoring"): any message is a failure.
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stdout + result.stderr


# --------------------------------------------------------------------------- Dockerfile


def dockerfile() -> list[dict]:
    from dockerfile_parse import DockerfileParser

    return [i for i in DockerfileParser(path=str(DEPLOY / "Dockerfile")).structure if i["instruction"] != "COMMENT"]


def one(instructions, name) -> str:
    found = [i["value"] for i in instructions if i["instruction"] == name]
    assert len(found) == 1, f"{name}: {len(found)} in the Dockerfile"
    return found[0]


def test_dockerfile_base_image_is_pinned():
    image = one(dockerfile(), "FROM")
    name, _, tag = image.partition("@")[0].partition(":")
    assert name == "python" and re.fullmatch(r"\d+\.\d+\.\d+-slim-\w+", tag), f"{image}: not an exact version"


def test_dockerfile_runs_gunicorn_as_a_user_on_the_exposed_port():
    instructions = dockerfile()
    user = [i["value"] for i in instructions if i["instruction"] == "USER"][-1]
    assert user not in ("root", "0") and not user.startswith(("root:", "0:"))
    created = [i["value"] for i in instructions if i["instruction"] == "RUN" and "useradd" in i["value"]]
    assert created and created[0].split()[-1] == user  # the image creates that user
    port = one(instructions, "EXPOSE")
    command = json.loads(one(instructions, "CMD"))  # the exec form: a JSON list
    assert command[0] == "gunicorn" and command[-1] == "wsgi:app"
    assert command[command.index("--bind") + 1] == f"0.0.0.0:{port}"
    check = one(instructions, "HEALTHCHECK")
    options, _, check_command = check.partition("CMD")
    assert "--interval=" in options and "--timeout=" in options
    assert json.loads(check_command) == ["python", "healthcheck.py", f"http://127.0.0.1:{port}/healthz"]


def test_dockerfile_copies_files_that_exist():
    instructions = dockerfile()
    copied = []
    for value in (i["value"] for i in instructions if i["instruction"] == "COPY"):
        *sources, _target = value.split()
        for source in sources:
            assert (ROOT / source).is_file(), f"COPY {source}: no such file (the build context is the repository)"
            copied.append(Path(source).name)
    assert {"requirements.txt", "wsgi.py", "contacts_service.py", "healthcheck.py"} <= set(copied)
    assert any(i["instruction"] == "RUN" and "pip install -r requirements.txt" in i["value"] for i in instructions)


# --------------------------------------------------------------------------- secrets


def test_settings_files_with_secrets_are_not_committed():
    example = (DEPLOY / "netcourse.env.example").read_text(encoding="utf-8")
    settings = dict(line.split("=", 1) for line in example.splitlines() if line and not line.startswith("#"))
    assert set(settings) == {"DATABASE_URL", "LOG_LEVEL", "TRUSTED_PROXIES"}
    assert ":change-me@" in settings["DATABASE_URL"]  # a placeholder, not a password
    contacts_service.Settings.from_env(settings)  # and the values are valid
    git = shutil.which("git")
    if git and (ROOT / ".git").exists():
        for path in ("deploy/netcourse.env", ".env"):
            assert subprocess.run([git, "check-ignore", "-q", path], cwd=ROOT).returncode == 0, f"{path} not ignored"
        assert subprocess.run([git, "check-ignore", "-q", "deploy/netcourse.env.example"], cwd=ROOT).returncode == 1
