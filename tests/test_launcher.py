"""The launcher: free ports, readiness, errors, re-launch, and no orphan ever."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from sandbox import SandboxError, launch
from sandbox.servers import SERVERS

PYTHON = sys.executable


def gone(pid: int, within: float) -> bool:
    """True once process ``pid`` has ended (zombies count as ended), polling up to ``within`` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def run_script(code: str) -> subprocess.Popen:
    """A separate Python process running ``code``, its stdout piped."""
    return subprocess.Popen([PYTHON, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, text=True)


def echo_once(address, payload: bytes = b"ping") -> bytes:
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(payload)
        conn.shutdown(socket.SHUT_WR)
        return b"".join(iter(lambda: conn.recv(4096), b""))


def test_port_zero_gives_distinct_real_ports():
    with launch("echo", replace=False) as a, launch("echo", replace=False) as b:
        assert a.port > 0 and b.port > 0 and a.port != b.port
        assert a.host == "127.0.0.1"
        assert a.url == f"tcp://127.0.0.1:{a.port}"
        assert a.address == ("127.0.0.1", a.port)


def test_ready_when_launch_returns():
    # No sleep anywhere: the very first connection must succeed, every time.
    for _ in range(5):
        with launch("echo", replace=False) as srv:
            assert echo_once(srv.address) == b"ping"


def test_explicit_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with launch("echo", port=port, replace=False) as srv:
        assert srv.port == port
        assert echo_once(srv.address) == b"ping"


def test_log_records_requests():
    with launch("echo", replace=False) as srv:
        echo_once(srv.address, b"hello")
        assert srv.wait_for("echoed 5 bytes")
        assert srv.log.startswith(f"echo listening on tcp://127.0.0.1:{srv.port}\n")
        assert not srv.wait_for("never printed", timeout=0.1)


def test_failure_reports_the_servers_own_output():
    with pytest.raises(SandboxError) as error:
        launch("echo", replace=False, no_such_option=1)
    assert "unrecognized arguments: --no-such-option" in str(error.value)
    assert "exited with code 2" in str(error.value)


def test_port_in_use_is_reported():
    with launch("echo", replace=False) as first:
        with pytest.raises(SandboxError) as error:
            launch("echo", port=first.port, replace=False)
    assert "Address already in use" in str(error.value) or "Errno" in str(error.value)


def test_unknown_server_name():
    with pytest.raises(ValueError, match="unknown sandbox server 'nope'"):
        launch("nope")


def test_relaunch_stops_the_earlier_instance():
    first = launch("echo")
    second = launch("echo")  # as when a notebook cell runs again
    try:
        assert gone(first.pid, within=5)
        assert not first.running and second.running
        assert echo_once(second.address) == b"ping"
    finally:
        second.stop()


def test_stop_leaves_no_process_and_is_idempotent():
    srv = launch("echo", replace=False)
    pid = srv.pid
    srv.stop()
    srv.stop()
    assert gone(pid, within=1)
    assert "echo stopped" in srv.log  # a clean stop, not a kill


def test_wildcard_host_is_reached_through_loopback():
    with launch("echo", host="0.0.0.0", replace=False) as srv:
        assert srv.host == "127.0.0.1"
        assert echo_once(srv.address) == b"ping"
        assert srv.wait_for("reachable from the network")


def test_two_processes_launch_in_parallel():
    script = """
        from sandbox import launch
        with launch("echo") as srv:
            print(srv.port, flush=True)
            import sys; sys.stdin.read()
    """
    a = subprocess.Popen([PYTHON, "-c", textwrap.dedent(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    b = subprocess.Popen([PYTHON, "-c", textwrap.dedent(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        ports = {int(a.stdout.readline()), int(b.stdout.readline())}
        assert len(ports) == 2
        for port in ports:
            assert echo_once(("127.0.0.1", port)) == b"ping"
    finally:
        for p in (a, b):
            p.communicate("", timeout=10)
    assert a.returncode == 0 and b.returncode == 0


def test_no_orphan_after_interpreter_exit():
    child = run_script("""
        from sandbox import launch
        srv = launch("echo")
        print(srv.pid, flush=True)
    """)  # exits without calling stop()
    pid = int(child.stdout.readline())
    child.wait(10)
    assert gone(pid, within=2)


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")
def test_no_orphan_after_parent_is_killed():
    child = run_script("""
        import time
        from sandbox import launch
        srv = launch("echo")
        print(srv.pid, flush=True)
        time.sleep(60)
    """)
    pid = int(child.stdout.readline())
    assert psutil.pid_exists(pid)
    child.kill()  # as when a Jupyter kernel is killed: no atexit, no cleanup
    child.wait(10)
    started = time.monotonic()
    assert gone(pid, within=3), "the server outlived its killed parent"
    print(f"server exited {time.monotonic() - started:.2f} s after its parent was killed")


@pytest.mark.skipif(os.name == "nt", reason="sends SIGINT, as Ctrl-C does in a terminal")
def test_ctrl_c_stops_cleanly_by_hand():
    proc = subprocess.Popen([PYTHON, "-m", "sandbox", "echo"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    assert first.startswith("echo listening on tcp://127.0.0.1:")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "echo stopped" in out
    assert "Traceback" not in err


def test_command_line_list_and_help():
    listing = subprocess.run([PYTHON, "-m", "sandbox", "--list"], capture_output=True, text=True, check=True).stdout
    for name in SERVERS:
        assert name in listing
    for name in SERVERS:
        help_text = subprocess.run([PYTHON, "-m", "sandbox", name, "--help"], capture_output=True, text=True, check=True).stdout
        assert f"python -m sandbox {name}" in help_text
        assert "limits" in help_text.lower()
        if name != "postgres":  # which refuses a network: see below
            exposed = help_text.split("on a network (--host 0.0.0.0):\n", 1)
            assert len(exposed) == 2 and ("anyone" in exposed[1] or "your application" in exposed[1]), name
    refused = subprocess.run([PYTHON, "-m", "sandbox", "postgres", "--host", "0.0.0.0"], capture_output=True, text=True)
    assert refused.returncode == 2 and "listens on this machine only" in refused.stderr
    unknown = subprocess.run([PYTHON, "-m", "sandbox", "nope"], capture_output=True, text=True)
    assert unknown.returncode == 2 and "unknown server 'nope'" in unknown.stderr


@pytest.mark.parametrize("how", ["restart", "shutdown"])
def test_kernel_restart_or_shutdown_ends_the_server(how):
    """What a student does in JupyterLab: a server launched in a kernel ends with it."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    try:
        pid = []

        def collect(message):
            if message["msg_type"] == "stream":
                pid.append(int(message["content"]["text"].strip()))

        reply = client.execute_interactive(
            "from sandbox import launch\nsrv = launch('echo')\nprint(srv.pid)",
            output_hook=collect,
            timeout=30,
        )
        assert reply["content"]["status"] == "ok" and pid
        assert psutil.pid_exists(pid[0])
        if how == "restart":
            manager.restart_kernel(now=True)  # "Restart Kernel": the old kernel is killed
        else:
            manager.shutdown_kernel()
        assert gone(pid[0], within=3)
    finally:
        client.stop_channels()
        if manager.is_alive():
            manager.shutdown_kernel(now=True)


def test_a_kept_server_is_not_replaced_by_a_later_launch():
    kept = launch("echo", replace=False)
    try:
        with launch("echo") as other:  # replaces only an earlier replace=True launch
            assert kept.running and other.running
    finally:
        kept.stop()
