"""The `app` sandbox server: any Flask/WSGI application from a file."""

from __future__ import annotations

import textwrap

import pytest
import requests

from sandbox import SandboxError, launch

APP = '''
from flask import Flask

app = Flask(__name__)

@app.get("/")
def index():
    return {"from": "app"}

def create_app():
    factory_app = Flask("factory")
    factory_app.get("/")(lambda: {"from": "factory"})
    return factory_app

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"plain wsgi"]
'''


@pytest.fixture
def app_file(tmp_path):
    path = tmp_path / "hello.py"
    path.write_text(textwrap.dedent(APP), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "suffix, server, expected",
    [("", "waitress", '{"from":"app"}'), (":create_app", "dev", '{"from":"factory"}'), (":application", "waitress", "plain wsgi")],
)
def test_serves_app_factory_or_wsgi_function(app_file, suffix, server, expected):
    with launch("app", app=f"{app_file}{suffix}", server=server, replace=False) as srv:
        assert requests.get(srv.url, timeout=5).text.strip() == expected
        assert srv.log.startswith("app listening on http://127.0.0.1:")


def test_missing_file_or_name_is_reported(app_file, tmp_path):
    with pytest.raises(SandboxError, match="no such file"):
        launch("app", app=tmp_path / "nope.py", replace=False)
    with pytest.raises(SandboxError, match="defines no missing"):
        launch("app", app=f"{app_file}:missing", replace=False)
