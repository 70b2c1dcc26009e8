"""The `app` sandbox server: any Flask/WSGI application from a file."""

from __future__ import annotations

import os
import signal
import textwrap
import time
from pathlib import Path

import psutil
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
    [("", "waitress", '{"from":"app"}'), (":create_app", "dev", '{"from":"factory"}'), (":application", "waitress", "plain wsgi"),
     pytest.param("", "gunicorn", '{"from":"app"}', marks=pytest.mark.skipif(os.name == "nt", reason="gunicorn: POSIX only")),
     pytest.param(":application", "gunicorn", "plain wsgi",
                  marks=pytest.mark.skipif(os.name == "nt", reason="gunicorn: POSIX only"))],
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


PID_APP = '''
import os

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
'''


@pytest.mark.skipif(os.name == "nt", reason="gunicorn forks worker processes: Linux and macOS only")
def test_gunicorn_runs_workers_and_stops_them_all(tmp_path):
    path = tmp_path / "pid.py"
    path.write_text(PID_APP, encoding="utf-8")
    with launch("app", app=path, server="gunicorn", workers=3, replace=False) as srv:
        assert srv.log.startswith("app listening on http://127.0.0.1:") and srv.port != 0
        master = psutil.Process(srv.pid)
        served_by = {int(requests.get(srv.url, timeout=5).text) for _ in range(10)}
        # The workers start after the announcement: wait until all three are there.
        deadline = time.monotonic() + 10
        while len(master.children()) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = master.children()
        assert len(workers) == 3
        # Every request is served by a worker process, never by the master.
        assert srv.pid not in served_by and served_by <= {w.pid for w in workers}
    assert srv.process.returncode == 0 and srv.log.rstrip().endswith("app stopped")
    assert srv.log.count("app stopped") == 1  # printed by the master only
    gone, alive = psutil.wait_procs(workers, timeout=5)
    assert alive == []


def ignores_sigint(pid: int) -> bool:
    """Whether the process ignores SIGINT, as Linux's /proc/PID/status says (SigIgn, a hex mask)."""
    status = Path(f"/proc/{pid}/status").read_text()
    ignored = int(next(line for line in status.splitlines() if line.startswith("SigIgn:")).split()[1], 16)
    return bool(ignored & (1 << (signal.SIGINT - 1)))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads signal dispositions from Linux's /proc")
def test_gunicorn_workers_leave_ctrl_c_to_the_master(tmp_path):
    """A Ctrl-C to the whole group reaches master and workers; the master then stops the
    workers itself. A gthread worker that also handled the SIGINT could hang for ever."""
    path = tmp_path / "pid.py"
    path.write_text(PID_APP, encoding="utf-8")
    with launch("app", app=path, server="gunicorn", workers=2, threads=2, replace=False) as srv:
        master = psutil.Process(srv.pid)
        worker = int(requests.get(srv.url, timeout=5).text)  # a worker that has served: set up
        assert ignores_sigint(worker)  # the worker ignores SIGINT
        assert not ignores_sigint(srv.pid)  # the master does not: Ctrl-C stops it
        # Both workers set up, as the one that served: on a loaded machine the other may still be
        # starting, and a worker not yet set up still has the master's handlers (gunicorn's own
        # affair, not what this test is about).
        deadline = time.monotonic() + 30
        while len(workers := master.children()) < 2 or not all(ignores_sigint(w.pid) for w in workers):
            assert time.monotonic() < deadline, "the two workers did not finish starting within 30 s"
            time.sleep(0.1)
        for process in [master, *workers]:  # as a terminal's Ctrl-C: every process of the group
            process.send_signal(signal.SIGINT)
        gone, alive = psutil.wait_procs([master, *workers], timeout=10)
        assert alive == []


def test_gunicorn_refuses_zero_workers(app_file):
    with pytest.raises(SandboxError, match="--workers: 0 is less than 1"):
        launch("app", app=app_file, server="gunicorn", workers=0, replace=False)
