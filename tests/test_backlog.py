"""Every server of ours listens with a backlog of 128, not socketserver's 5.

The backlog is read from the operating system with ``ss`` (Linux): for a
listening socket, its Send-Q column is the backlog given to listen(). A
backlog set on a server after its constructor has listened would show 5 here.
"""

from __future__ import annotations

import shutil
import subprocess
from urllib.parse import urlsplit

import pytest

from checks.ch10 import _LoadServer
from checks.servers import FlakyProxy, static_server
from sandbox import launch

pytestmark = pytest.mark.skipif(shutil.which("ss") is None, reason="ss (Linux, iproute2) reads the backlog")


def listen_backlog(port: int) -> int:
    """The backlog of the socket listening on ``port``, as ``ss -ltn`` shows it."""
    lines = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True,
                           timeout=10).stdout.splitlines()
    assert len(lines) == 1, f"expected one socket listening on port {port}: {lines}"
    state, received, backlog, *_ = lines[0].split()
    return int(backlog)


@pytest.mark.parametrize("name", ["echo", "contacts", "random"])
def test_sandbox_servers_listen_with_a_backlog_of_128(name):
    with launch(name, replace=False) as server:
        assert listen_backlog(server.port) == 128


def test_the_load_server_of_the_measure_check_listens_with_a_backlog_of_128():
    with _LoadServer() as load:  # checks/ch10.py: 8 clients at once, and their reconnections
        assert listen_backlog(load.server.server_address[1]) == 128


def test_the_other_http_servers_of_the_checks_listen_with_a_backlog_of_128(tmp_path):
    with FlakyProxy("http://127.0.0.1:9") as proxy, static_server(tmp_path) as url:  # the proxy forwards nothing here
        assert listen_backlog(proxy.server.server_address[1]) == 128
        assert listen_backlog(urlsplit(url).port) == 128
