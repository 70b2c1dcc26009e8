"""The deployment files of chapter 10 (deploy/): each one is checked by a test
that fails when the file is wrong, not only when it is missing.

- the service (contacts_service.py) and its WSGI entry point (wsgi.py): settings
  from the environment, the API, one JSON log line per request, /healthz;
- healthcheck.py: exit status 0 for a healthy service, 1 otherwise;
- nginx.conf: ``nginx -t`` accepts it, and a real nginx with it proxies to the
  service, serves the chat's static files itself and passes its WebSockets on
  (Debian's ``nginx``; skipped without it, a failure under CI);
- nginx-tls.conf (chapter 13): the same, with a certificate from the course CA: it
  redirects HTTP to HTTPS, terminates TLS, sends HSTS;
- netcourse.service: ``systemd-analyze verify`` accepts it (when available), and
  its essential keys are there;
- Dockerfile: parsed with dockerfile-parse, then checked: a pinned base image, a
  user other than root, the exposed port, a health check, gunicorn as the command,
  and files that exist;
- requirements.txt: the same ranges as pyproject.toml.
"""

from __future__ import annotations

import configparser
import contextlib
import http.server
import importlib.util
import io
import json
import os
import re
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import flask
import pytest
import requests
from packaging.requirements import Requirement
from websockets.sync.client import connect

from sandbox import launch
from sandbox.tls import course_ca

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


@pytest.mark.skipif(os.name == "nt", reason="gunicorn: Linux and macOS only")
def test_gunicorn_sync_workers_close_connections_and_gthread_keeps_them(monkeypatch):
    """Chapter 10's measure: the sync worker (default) closes each connection; --threads
    (gthread) keeps them alive, as the sandbox's `app --threads` asks."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    for threads, expected in [(1, "close"), (4, "keep-alive")]:
        with launch("app", app=DEPLOY / "wsgi.py", server="gunicorn", workers=1, threads=threads,
                    replace=False) as srv, requests.Session() as session:
            answers = [session.get(f"{srv.url}/healthz", timeout=5) for _ in range(2)]
            assert [a.headers.get("Connection") for a in answers] == [expected] * 2, threads


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


def nginx_setup(tmp_path: Path, listen: int, upstream: int, chat_listen: int = 0, chat: int = 8001,
                static: Path | None = None) -> list[str]:
    """Our two server blocks inside a minimal main configuration, every path in tmp_path:
    the contacts service's on `listen`, proxying to `upstream`; the chat's on `chat_listen`,
    proxying to `chat`, with its static files from `static`. The nginx command line
    (without -t or -g) that uses it."""
    ours = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    contacts, _, chat_part = ours.partition("upstream chat {")
    assert chat_part, "nginx.conf changed shape: no upstream chat"
    chat_part = "upstream chat {" + chat_part
    chat_listen = chat_listen or free_port()
    rewritten = (contacts.replace("listen 80;", f"listen 127.0.0.1:{listen};")
                 .replace("server 127.0.0.1:8000 ", f"server 127.0.0.1:{upstream} ")
                 + chat_part.replace("listen 80;", f"listen 127.0.0.1:{chat_listen};")
                 .replace("server 127.0.0.1:8001;", f"server 127.0.0.1:{chat};")
                 .replace("alias /srv/chat/static/;", f"alias {(static or tmp_path).as_posix()}/;"))
    rewritten = rewritten.replace("/var/log/nginx/", f"{tmp_path.as_posix()}/")
    assert rewritten.count(f"127.0.0.1:{listen};") == 1 and rewritten.count(f":{upstream} ") == 1, "nginx.conf changed shape"
    assert rewritten.count(f"127.0.0.1:{chat_listen};") == 1 and rewritten.count(f":{chat};") == 1, "nginx.conf changed shape"
    assert "/srv/" not in rewritten and "/var/log" not in rewritten, "nginx.conf changed shape"
    return nginx_command(tmp_path, rewritten)


def nginx_command(tmp_path: Path, ours: str) -> list[str]:
    """`ours` (server blocks) inside a minimal main configuration, every path in tmp_path; the
    nginx command line (without -t or -g) that uses it."""
    (tmp_path / "netcourse.conf").write_text(ours, encoding="utf-8")
    temp = "\n".join(f"    {kind}_temp_path {tmp_path / kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                           "uwsgi", "scgi"))
    # As root (a container), nginx runs its workers as nobody, who cannot read pytest's folders.
    user = "user root;" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""
    (tmp_path / "nginx.conf").write_text(f"""
{user}
pid {tmp_path / 'nginx.pid'};
error_log {tmp_path / 'error.log'};
worker_processes 1;
events {{ worker_connections 64; }}
http {{
    access_log {tmp_path / 'access.log'};
    types {{ text/css css; text/javascript js; text/html html; }}
{temp}
    include {tmp_path / 'netcourse.conf'};
}}
""", encoding="utf-8")
    return [nginx_program(), "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(tmp_path / "nginx.conf")]


@contextlib.contextmanager
def running_nginx(command: list[str], port: int, tmp_path: Path):
    """nginx in the foreground, until the end of the block; ready once `port` accepts connections."""
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
        yield nginx
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)


@pytest.mark.parametrize("setup", [
    lambda tmp_path: nginx_setup(tmp_path, free_port(), 8000),  # nginx.conf (chapter 10)
    lambda tmp_path: nginx_tls_setup(tmp_path, free_port(), free_port(), free_port()),  # nginx-tls.conf (13)
], ids=["nginx.conf", "nginx-tls.conf"])
def test_nginx_accepts_the_configuration(tmp_path, setup):
    result = subprocess.run(setup(tmp_path) + ["-t"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr and "test is successful" in result.stderr


def test_nginx_proxies_to_the_service(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("TRUSTED_PROXIES", "1")
    port = free_port()
    with launch("app", app=DEPLOY / "wsgi.py", replace=False) as srv:
        with running_nginx(nginx_setup(tmp_path, port, srv.port), port, tmp_path):
            url = f"http://127.0.0.1:{port}"
            answer = requests.get(f"{url}/api/contacts", headers={"X-Request-ID": "from-the-client"}, timeout=5)
            assert answer.status_code == 200 and [c["name"] for c in answer.json()] == ["Ada", "Alan", "Grace"]
            assert answer.headers["Server"] == "nginx"  # server_tokens off: no version
            request_id = answer.headers["X-Request-ID"]  # nginx's own id replaced the client's; the service echoes it
            assert re.fullmatch(r"[0-9a-f]{32}", request_id)
            assert requests.get(f"{url}/healthz", timeout=5).json()["status"] == "ok"  # from 127.0.0.1: allowed
            too_big = requests.post(f"{url}/api/contacts", data=b"x" * 100_000, timeout=5)
            assert too_big.status_code == 413 and "nginx" in too_big.text  # stopped by nginx, not Python
    entries = [json.loads(line) for line in srv.log.splitlines() if line.startswith("{")]
    seen = next(e for e in entries if e.get("request_id") == request_id)
    assert seen["path"] == "/api/contacts" and seen["client"] == "127.0.0.1"
    assert "/api/contacts" in (tmp_path / "netcourse.access.log").read_text()


def test_nginx_serves_the_chat_its_static_files_and_websockets(tmp_path):
    static = tmp_path / "static"
    shutil.copytree(ROOT / "sandbox" / "chat" / "static", static)
    port, chat_port = free_port(), free_port()
    with launch("chat", replace=False) as chat:
        command = nginx_setup(tmp_path, port, 8000, chat_listen=chat_port, chat=chat.port, static=static)
        with running_nginx(command, chat_port, tmp_path):
            url = f"http://127.0.0.1:{chat_port}"
            page = requests.get(f"{url}/", timeout=5)  # from the chat (Python)...
            assert page.status_code == 200 and "/static/chat.js" in page.text
            script = requests.get(f"{url}/static/chat.js", timeout=5)  # ...its files from the disk (nginx)
            assert script.status_code == 200 and script.content == (static / "chat.js").read_bytes()
            assert script.headers["Cache-Control"] == "max-age=3600" and "Expires" in script.headers
            again = requests.get(f"{url}/static/chat.js", headers={"If-Modified-Since": script.headers["Last-Modified"]},
                                 timeout=5)
            assert again.status_code == 304 and again.content == b""  # chapter 10: "answers If-Modified-Since with 304"
            assert requests.get(f"{url}/static/nothing.js", timeout=5).status_code == 404
            with connect(f"ws://127.0.0.1:{chat_port}/ws/echo", open_timeout=5) as ws:  # through nginx
                ws.send("through nginx")
                assert ws.recv(timeout=5) == "through nginx"
            with connect(f"ws://127.0.0.1:{chat_port}/ws/chat?name=Ada", open_timeout=5) as ws:
                assert json.loads(ws.recv(timeout=5))["type"] == "join"
                ws.send("hello from behind nginx")
                heard = json.loads(ws.recv(timeout=5))
                assert (heard["type"], heard["from"], heard["text"]) == ("message", "Ada", "hello from behind nginx")
    assert "GET /static/" not in chat.log and "echo: connected" in chat.log  # nginx served the files alone
    access = (tmp_path / "chat.access.log").read_text()
    assert '"GET /ws/echo HTTP/1.1" 101' in access and '"GET /static/chat.js HTTP/1.1" 200' in access


def nginx_tls_setup(tmp_path: Path, http: int, https: int, upstream: int) -> list[str]:
    """deploy/nginx-tls.conf (chapter 13) on ports `http` and `https`, proxying to `upstream`, with a
    certificate from the course CA for its name and 127.0.0.1, its ACME folder and logs in tmp_path."""
    ours = (DEPLOY / "nginx-tls.conf").read_text(encoding="utf-8")
    name = re.search(r"server_name (\S+);", ours)[1]
    cert, key = course_ca().issue(name, "127.0.0.1")
    live = f"/etc/letsencrypt/live/{name}/"
    rewritten = (ours.replace("listen 80;", f"listen 127.0.0.1:{http};")
                 .replace("listen 443 ssl;", f"listen 127.0.0.1:{https} ssl;")
                 .replace("server 127.0.0.1:8000 ", f"server 127.0.0.1:{upstream} ")
                 .replace(f"{live}fullchain.pem", cert.as_posix()).replace(f"{live}privkey.pem", key.as_posix())
                 .replace("/var/www/letsencrypt", (tmp_path / "acme").as_posix())
                 .replace("/var/log/nginx/", f"{tmp_path.as_posix()}/"))
    for old in ("listen 80;", "listen 443 ssl;", "/etc/", "/var/"):
        assert old not in rewritten, f"nginx-tls.conf changed shape: {old!r} is still there"
    assert f"server 127.0.0.1:{upstream} " in rewritten, "nginx-tls.conf changed shape: no upstream on 8000"
    return nginx_command(tmp_path, rewritten)


@contextlib.contextmanager
def headers_echo():
    """An HTTP server on a free port that answers each GET with the request's headers, as JSON
    (http.server: httpbin runs under waitress, which drops X-Forwarded-* from untrusted proxies)."""
    class Echo(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(dict(self.headers)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # quiet
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server
        finally:
            server.shutdown()


def test_nginx_terminates_tls(tmp_path):
    """Port 80 redirects (but serves ACME's challenge); port 443 speaks TLS 1.2 and 1.3 with HSTS, and tells
    the application behind it how the client came."""
    http_port, https_port = free_port(), free_port()
    challenge = tmp_path / "acme" / ".well-known" / "acme-challenge" / "token-1"
    challenge.parent.mkdir(parents=True)
    challenge.write_text("token-1.thumbprint")
    with headers_echo() as upstream:
        command = nginx_tls_setup(tmp_path, http_port, https_port, upstream.server_address[1])
        with running_nginx(command, https_port, tmp_path):
            plain = requests.get(f"http://127.0.0.1:{http_port}/get?a=1", allow_redirects=False, timeout=5)
            assert plain.status_code == 301 and plain.headers["Location"] == "https://contacts.example.org/get?a=1"
            assert requests.get(f"http://127.0.0.1:{http_port}/.well-known/acme-challenge/token-1",
                                timeout=5).text == "token-1.thumbprint"  # what Let's Encrypt fetches
            answer = requests.get(f"https://127.0.0.1:{https_port}/get?a=1", verify=course_ca().cert_file, timeout=5)
            assert answer.status_code == 200 and answer.headers["Server"] == "nginx"
            assert answer.headers["Strict-Transport-Security"] == "max-age=31536000"
            assert answer.json()["X-Forwarded-Proto"] == "https"  # what the application learns
            with pytest.raises(requests.exceptions.SSLError):  # the system's CAs do not know the course CA
                requests.get(f"https://127.0.0.1:{https_port}/get", timeout=5)
            for newest in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):  # ssl_protocols TLSv1.2 TLSv1.3
                context = ssl.create_default_context(cafile=course_ca().cert_file)
                context.maximum_version = newest
                with socket.create_connection(("127.0.0.1", https_port), timeout=5) as raw, \
                        context.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
                    assert conn.version() == newest.name.replace("v1_", "v1.")
    assert "/get?a=1" in (tmp_path / "contacts_tls.access.log").read_text()


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
