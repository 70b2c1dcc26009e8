"""The tap's record read back, and drawn: previews of text and bytes, escaping, folding, nothing remote."""

from __future__ import annotations

import json
import re

import pytest

from sandbox.wire import Diagram, Event, Exchanges, parse, preview_parts, read, show


def record_line(conn, t_ms, kind, **fields) -> str:
    return json.dumps({"conn": conn, "t_ms": t_ms, "kind": kind, **fields})


def exchange(*chunks: tuple[str, bytes], conn: int = 1, closed: bool = True, preview: int = 64) -> list[Event]:
    """The events of one connection carrying ``chunks`` ((direction, data) pairs), as the tap writes them."""
    lines = [record_line(conn, 0.0, "open", peer="127.0.0.1:50000")]
    totals = {"c>s": 0, "s>c": 0}
    counts = {"c>s": 0, "s>c": 0}
    for i, (direction, data) in enumerate(chunks, 1):
        lines.append(record_line(conn, i * 0.5, "data", direction=direction, size=len(data),
                                 preview=data[:preview].decode("latin-1")))
        totals[direction] += len(data)
        counts[direction] += 1
    if closed:
        lines += [record_line(conn, 90.0, "fin", direction="c>s"), record_line(conn, 91.0, "fin", direction="s>c"),
                  record_line(conn, 92.0, "close", bytes=totals, chunks=counts)]
    return parse(lines)


def text_of(parts) -> str:
    return "".join(text for text, _ in parts)


def test_a_record_line_gives_back_the_exact_bytes():
    data = bytes(range(256))
    [event] = parse([record_line(3, 1.5, "data", direction="s>c", size=256, preview=data.decode("latin-1"))])
    assert event == Event(conn=3, t_ms=1.5, kind="data", direction="s>c", size=256, preview=data)
    assert repr(Event(1, 0.0, "fin", "c>s")) == "Event(conn=1, t_ms=0.0, kind='fin', direction='c>s')"


def test_a_line_still_being_written_is_not_read(tmp_path):
    path = tmp_path / "record.jsonl"
    path.write_text(record_line(1, 0.0, "open", peer="x") + "\n" + '{"conn": 1, "t_ms": 0.2, "ki', encoding="utf-8")
    assert [e.kind for e in read(path)] == ["open"]


def test_totals_are_exact_from_the_close_even_for_chunks_not_recorded():
    events = parse([record_line(1, 0, "open", peer="p"),
                    record_line(1, 1, "data", direction="c>s", size=10, preview="0123456789"),
                    record_line(1, 9, "close", bytes={"c>s": 5000, "s>c": 0}, chunks={"c>s": 7, "s>c": 0})])
    conn = events.connections[1]
    assert conn.closed and conn.recorded == 1 and conn.bytes == {"c>s": 5000, "s>c": 0} and conn.chunks["c>s"] == 7
    html = Diagram(events)._repr_html_()
    assert "… 6 more chunks (4,990 B →), not recorded" in html
    assert "closed: 5,000 B → in 7 chunks" in html


def test_an_open_connection_counts_what_is_recorded_so_far():
    conn = exchange(("c>s", b"abc"), ("s>c", b"de"), closed=False).connections[1]
    assert not conn.closed and conn.bytes == {"c>s": 3, "s>c": 2} and conn.client == "127.0.0.1:50000"


def test_the_chunks_of_each_direction_and_what_went_each_way_per_connection():
    events = Exchanges(exchange(("c>s", b"GET "), ("c>s", b"/ \r\n"), ("s>c", b"200"), conn=1)
                   + exchange(("c>s", b"x" * 100), conn=2, preview=8))
    assert [e.preview for e in events.data("c>s")] == [b"GET ", b"/ \r\n", b"x" * 8]
    assert [e.preview for e in events.data()] == [b"GET ", b"/ \r\n", b"200", b"x" * 8]
    assert events.only(2).data("s>c") == []
    assert events.joined() == {1: {"c>s": b"GET / \r\n", "s>c": b"200"}, 2: {"c>s": b"x" * 8, "s>c": b""}}


def test_text_is_shown_as_text_with_visible_line_ends():
    is_text, parts = preview_parts(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27, 60)
    assert is_text and text_of(parts) == "GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"
    assert ("\\r\\n", True) in parts  # an escape: drawn dimmer
    assert preview_parts("héllo ✓".encode(), 10, 60) == (True, [("héllo ✓", False)])
    # A character cut at the end of the 64-byte preview is still text.
    assert preview_parts("✓".encode() * 22, 66, 80)[0]


def test_long_text_is_cut_with_an_ellipsis():
    is_text, parts = preview_parts(b"x" * 64, 10_000, 20)
    assert is_text and text_of(parts) == "x" * 20 + "…"
    assert text_of(preview_parts(b"short", 5000, 20)[1]) == "short…"  # the preview is all there is


def test_bytes_are_shown_as_hex_and_ascii():
    is_text, parts = preview_parts(b"\x00\x00\x00\x05hello\xff", 10, 60)
    assert not is_text
    assert text_of(parts) == "00 00 00 05 68 65 6c 6c 6f ff  ····hello·"
    is_text, parts = preview_parts(bytes(range(64)), 64, 32)
    assert text_of(parts).startswith("00 01 02 03 04 05 06 07 …")


def test_payloads_are_escaped():
    hostile = b"<script>alert('hi')</script><img src=x onerror=alert(1)>"
    events = exchange(("c>s", hostile), ("s>c", b"</div><b>"))
    html = show(events, server="<i>srv</i>")._repr_html_()
    assert "<script" not in html and "<img" not in html and "<i>" not in html and "</div><b>" not in html
    assert "&lt;script&gt;alert(&#x27;hi&#x27;)" in html and "&lt;/div&gt;&lt;b&gt;" in html


def test_errors_are_escaped_and_shown():
    events = parse([record_line(1, 0, "open", peer="p"), record_line(1, 1, "error", reason="target <refused>"),
                    record_line(1, 2, "close", bytes={"c>s": 0, "s>c": 0}, chunks={"c>s": 0, "s>c": 0})])
    html = Diagram(events)._repr_html_()
    assert "⚠ target &lt;refused&gt;" in html and "closed: no data either way" in html


def test_nothing_remote_and_no_script():
    events = exchange(("c>s", b"GET http://example.org/ HTTP/1.1\r\n"), ("s>c", bytes(range(40))))
    html = Diagram(events, server="http://127.0.0.1:8000")._repr_html_()
    html_without_payloads = html.replace("http://example.org/", "")
    for forbidden in ("<script", "javascript:", "http:", "https:", "//", "url(", "@import", "<link", "<img",
                      "<iframe", "src=", "href=", "<style"):
        assert forbidden not in html_without_payloads.lower(), forbidden
    assert re.search(r'<div class="netcourse-wire" style="[^"]*font:15px', html)  # inline styles only


def test_a_long_run_of_chunks_is_folded_keeping_its_ends():
    chunks = [("c>s", b"a" * 100), ("s>c", b"b" * 100)] * 50
    diagram = Diagram(exchange(*chunks), max_rows=12)
    assert len(diagram.rows) <= 12
    html = diagram._repr_html_()
    assert "… 97 more chunks (4,900 B →, 4,800 B ←)" in html  # 100 chunks: the first two and the last shown
    assert html.count("connect from") == 1 and "FIN: no more data from the client" in html
    assert "closed: 5,000 B → in 50 chunks, 5,000 B ← in 50 chunks" in html
    assert "… 97 more chunks" in str(diagram)


def test_many_connections_fold_the_middle_of_the_record():
    events = []
    for conn in range(1, 31):
        events += exchange(("c>s", b"ping"), ("s>c", b"pong"), conn=conn)
    diagram = Diagram(events, max_rows=16)
    assert len(diagram.rows) == 16
    fold = [row for row in diagram.rows if row.kind == "fold"]
    assert len(fold) == 1 and sum(fold[0].chunks.values()) + fold[0].others == 30 * 6 - 15
    assert "30 connections: 120 B to the server, 120 B back" in diagram._repr_html_()


def test_compact_mode_is_smaller():
    events = [e for conn in range(1, 21) for e in exchange(("c>s", b"x" * 50), conn=conn)]
    normal, compact = Diagram(events), Diagram(events, compact=True)
    assert (len(compact.rows), len(normal.rows)) == (10, 16)
    assert "font:12px" in compact._repr_html_() and "font:15px" in normal._repr_html_()


@pytest.mark.parametrize("conn, expected", [(None, {1, 2, 3}), (2, {2}), (-1, {3}), ([1, -1], {1, 3})])
def test_choosing_connections(conn, expected):
    events = parse(record_line(n, n, "open", peer="p") for n in (1, 2, 3))
    chosen = events if conn is None else events.only(conn)
    assert {e.conn for e in chosen} == expected


def test_an_empty_record():
    assert "nothing recorded yet" in Diagram([])._repr_html_()
    assert str(Diagram([])).strip().startswith("ms")
