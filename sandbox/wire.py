"""See the bytes: what a tap recorded, as data and as a sequence diagram.

    from sandbox import launch

    srv = launch("echo")
    tap = launch("tap", target=srv)    # talk to tap.address instead of srv.address
    ...                                # a client connects, sends, receives, closes
    tap.exchanges()                    # the record: a list of Event
    tap.show()                         # the same as a diagram, inline in the notebook

The tap (``sandbox/tap.py``, a server process of its own) writes each event
as a line of JSON to its record file before it passes the bytes on; the
handle here reads the complete lines. So whatever your client has received
is in the record at once. The end of a connection your client has just
closed may still be on its way: ``exchanges(wait=True)`` (the default of
``show()``) waits, for ``timeout`` seconds at most, until every connection
in the record is closed.

The diagram is plain HTML with inline styles: no script, no file or font
from the web. It shows the same in JupyterLab, in a RISE slideshow, in a
static slide deck and on the course website, and fits a 1280x720 slide
(``compact=True`` for a smaller one; long records are folded).
"""

from __future__ import annotations

import codecs
import html
import json
import os
import tempfile
import threading
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Iterable

from .launcher import Server

CLIENT_TO_SERVER, SERVER_TO_CLIENT = "c>s", "s>c"
DIRECTIONS = (CLIENT_TO_SERVER, SERVER_TO_CLIENT)


@dataclass(frozen=True)
class Event:
    """One thing the tap saw on connection ``conn``, ``t_ms`` milliseconds after its first connection.

    ``kind`` is one of:

    - ``"open"``: a client connected (``detail``: its address);
    - ``"data"``: a chunk, what one recv() returned, going ``direction``
      (``"c>s"``: client to server, ``"s>c"``: back); ``size`` is exact,
      ``preview`` holds its first bytes (64 by default);
    - ``"fin"``: the side sending ``direction`` shut down writing (end of file);
    - ``"reset"``: the side sending ``direction`` reset the connection, or vanished;
    - ``"error"``: something the tap could not do (``detail`` says what);
    - ``"close"``: the tap closed both sides; ``total_bytes`` and
      ``total_chunks`` count each direction exactly, recorded or not.
    """

    conn: int
    t_ms: float
    kind: str
    direction: str = ""
    size: int = 0
    preview: bytes = b""
    detail: str = ""
    total_bytes: dict = field(default_factory=dict)
    total_chunks: dict = field(default_factory=dict)

    def __repr__(self) -> str:  # only the fields that say something: Event(conn=1, ..., size=5, preview=b'hello')
        shown = [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self)
                 if f.name in ("conn", "t_ms", "kind") or getattr(self, f.name)]
        return f"Event({', '.join(shown)})"


@dataclass
class Connection:
    """One connection's totals. ``bytes`` and ``chunks`` (per direction) are exact once
    ``closed``; until then they count the recorded chunks only."""

    conn: int
    client: str = ""
    bytes: dict = field(default_factory=lambda: dict.fromkeys(DIRECTIONS, 0))
    chunks: dict = field(default_factory=lambda: dict.fromkeys(DIRECTIONS, 0))
    recorded: int = 0  # data events in the record
    closed: bool = False
    errors: list = field(default_factory=list)


class Exchanges(list):
    """The events of a record, in the order they happened, and ``connections``: their totals."""

    @property
    def connections(self) -> dict[int, Connection]:
        found: dict[int, Connection] = {}
        for event in self:
            conn = found.setdefault(event.conn, Connection(event.conn))
            if event.kind == "open":
                conn.client = event.detail
            elif event.kind == "data":  # counted until the close event gives the exact totals
                conn.recorded += 1
                conn.bytes[event.direction] += event.size
                conn.chunks[event.direction] += 1
            elif event.kind == "error":
                conn.errors.append(event.detail)
            elif event.kind == "close":
                conn.closed = True
                conn.bytes = dict(event.total_bytes)
                conn.chunks = dict(event.total_chunks)
        return found

    def data(self, direction: str = "") -> "Exchanges":
        """The data events (chunks), all of them or those going ``direction`` ("c>s", "s>c")."""
        return Exchanges(e for e in self if e.kind == "data" and (not direction or e.direction == direction))

    def joined(self) -> dict[int, dict[str, bytes]]:
        """For each connection, the previews of its chunks joined, per direction: what went each
        way, whole when each chunk was recorded whole (a ``preview`` as long as its chunk)."""
        found: dict[int, dict[str, bytes]] = {}
        for event in self.data():
            found.setdefault(event.conn, dict.fromkeys(DIRECTIONS, b""))[event.direction] += event.preview
        return found

    def only(self, conn) -> "Exchanges":
        """The events of connection ``conn`` (-1: the last one) or of a list of them."""
        numbers = sorted({event.conn for event in self})
        wanted = set(conn) if isinstance(conn, (list, tuple, range, set)) else {conn}
        wanted = {numbers[n] if n < 0 and -n <= len(numbers) else n for n in wanted}
        return Exchanges(event for event in self if event.conn in wanted)


def parse(lines: Iterable[str]) -> Exchanges:
    """Events from the lines of a record file (one JSON object each)."""
    events = Exchanges()
    for line in lines:
        if not line.strip():
            continue
        item = json.loads(line)
        events.append(Event(
            conn=item["conn"], t_ms=item["t_ms"], kind=item["kind"], direction=item.get("direction", ""),
            size=item.get("size", 0),
            preview=item.get("preview", "").encode("latin-1"),  # the tap wrote each byte as one character
            detail=item.get("peer") or item.get("reason") or "",
            total_bytes=item.get("bytes", {}), total_chunks=item.get("chunks", {}),
        ))
    return events


def read(path) -> Exchanges:
    """The events of a record file, e.g. of ``python -m sandbox tap --record FILE`` run by hand."""
    with open(path, encoding="utf-8") as file:
        return parse(line for line in file if line.endswith("\n"))  # a last line being written waits


def new_record_file() -> str:
    """An empty temporary file for a tap's record; its Tap handle deletes it when the tap stops."""
    handle, path = tempfile.mkstemp(prefix="sandbox-tap-", suffix=".jsonl")
    os.close(handle)
    return path


class Tap(Server):
    """A running tap (``launch("tap", target=srv)``): a Server that also reads its record."""

    def __init__(self, name, process, output, record, temporary: bool, target: str = ""):
        super().__init__(name, process, output)
        self.record = Path(record)
        self.target = target  # what it forwards to, as given to launch()
        self._temporary = temporary
        self._events = Exchanges()
        self._read_up_to = 0  # bytes of the record file parsed so far
        self._unfinished = b""  # the start of a line the tap is still writing
        self._reading = threading.Lock()

    def _read_new(self) -> Exchanges:
        """Parse the lines the tap wrote since the last call; all events so far."""
        with self._reading:
            try:
                with open(self.record, "rb") as file:
                    file.seek(self._read_up_to)
                    new = file.read()
            except FileNotFoundError:  # deleted when the tap stopped: the events are all here already
                new = b""
            self._read_up_to += len(new)
            *lines, self._unfinished = (self._unfinished + new).split(b"\n")
            self._events += parse(line.decode("utf-8") for line in lines)
            return Exchanges(self._events)

    def exchanges(self, conn=None, wait: bool = False, timeout: float = 2.0, connections: int = 0) -> Exchanges:
        """What the tap recorded so far: every connection, or ``conn`` (a number, -1 for the last one).

        ``wait=True`` first waits, ``timeout`` seconds at most, until every
        connection in the record is closed (and at least ``connections`` are
        in it: a connection the tap has not accepted yet is not).
        """
        if wait:
            def complete() -> bool:
                found = self._read_new().connections
                return not self.running or (len(found) >= connections and all(c.closed for c in found.values()))

            # The tap logs a line after it records each close: each new line wakes this up.
            with self._new_output:
                self._new_output.wait_for(complete, timeout)
        events = self._read_new()
        return events if conn is None else events.only(conn)

    def show(self, conn=None, wait: bool = True, timeout: float = 2.0, **options) -> "Diagram":
        """The record as a sequence diagram; ``options`` go to :class:`Diagram` (compact, max_rows...).

        It waits for the connections to close, as ``exchanges(wait=True)``:
        pass ``wait=False`` to show one you keep open without waiting ``timeout``.
        """
        return Diagram(self.exchanges(conn, wait=wait, timeout=timeout), server=self.target, **options)

    def stop(self, timeout: float = 5.0) -> None:
        super().stop(timeout)
        self._read_new()  # the whole record, kept in memory
        if self._temporary:
            self.record.unlink(missing_ok=True)


# --------------------------------------------------------------------------- the diagram

FONT = "ui-monospace,Menlo,Consolas,'DejaVu Sans Mono','Liberation Mono',monospace"
COLORS = {CLIENT_TO_SERVER: "#1f5fbf", SERVER_TO_CLIENT: "#1b7a3a"}  # blue to the server, green back
RED, GREY, LIFELINE = "#c62828", "#777", "#9a9a9a"


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'s' * (count != 1)}"


def preview_parts(data: bytes, size: int, width: int) -> tuple[bool, list[tuple[str, bool]]]:
    """``data`` (the first bytes of a chunk of ``size``) as at most ``width`` characters.

    Returns (is_text, parts): parts are (text, is_escape) pairs. Text that is
    UTF-8 shows as text, with \\r \\n \\t as escapes; anything else as hex
    bytes followed by the same bytes as ASCII ("·" for the unprintable).
    """
    # A character may be cut at the end of the preview: the decoder keeps it back.
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(data)
    except UnicodeDecodeError:
        text = None
    if text is not None and all(c.isprintable() or c in "\r\n\t" for c in text):
        parts, used, cut = [], 0, False
        for char in text:
            shown, escape = {"\r": ("\\r", True), "\n": ("\\n", True), "\t": ("\\t", True)}.get(char, (char, False))
            if used + len(shown) > width:
                cut = True
                break
            used += len(shown)
            if parts and parts[-1][1] == escape:
                parts[-1] = (parts[-1][0] + shown, escape)
            else:
                parts.append((shown, escape))
        if cut or size > len(data):
            parts.append(("…", True))
        return True, parts
    count = max(4, width // 4)  # "68 " and "h": four characters a byte
    shown = data[:count]
    hex_part = " ".join(f"{byte:02x}" for byte in shown)
    ascii_part = "".join(chr(byte) if 32 <= byte < 127 else "·" for byte in shown)
    more = " …" if len(data) > count or size > len(data) else ""
    return False, [(hex_part + more, False), ("  " + ascii_part, True)]


@dataclass
class Row:
    """One line of the diagram: an event, or a fold standing for several."""

    t_ms: float | None
    conn: int | None
    kind: str  # open, data, fin, reset, error, close, fold
    direction: str = ""
    event: Event | None = None
    # a fold: the chunks and bytes it stands for, per direction, how many of
    # them the tap did not record, and how many other events
    chunks: dict = field(default_factory=lambda: dict.fromkeys(DIRECTIONS, 0))
    bytes: dict = field(default_factory=lambda: dict.fromkeys(DIRECTIONS, 0))
    unrecorded: int = 0
    others: int = 0

    def add(self, row: "Row") -> None:
        """Fold ``row`` into this fold."""
        if row.kind == "data":
            self.chunks[row.direction] += 1
            self.bytes[row.direction] += row.event.size
        elif row.kind == "fold":
            for d in DIRECTIONS:
                self.chunks[d] += row.chunks[d]
                self.bytes[d] += row.bytes[d]
            self.unrecorded += row.unrecorded
            self.others += row.others
        else:
            self.others += 1


def folded(rows: list[Row], conn: int | None = None) -> Row:
    fold = Row(None, conn, "fold")
    for row in rows:
        fold.add(row)
    return fold


class Diagram:
    """A record as a sequence diagram: client and server lifelines, an arrow per event.

    Displayed by Jupyter as HTML (``_repr_html_``), as text elsewhere
    (``str()``). ``max_rows`` rows at most: the middle of a long run of chunks
    is folded first into one "… N more chunks" row, then, if need be, the
    middle of the record. ``compact=True``: a smaller font, fewer rows and
    shorter previews, for a slide with code above the diagram.
    """

    def __init__(self, events: Iterable[Event], server: str = "", compact: bool = False,
                 max_rows: int | None = None, width: int | None = None):
        self.events = Exchanges(events)
        self.server = server.split("://", 1)[-1]
        self.compact = compact
        self.max_rows = max(5, max_rows or (10 if compact else 16))
        self.width = width or (32 if compact else 44)  # characters of preview
        self.rows = self._fold(self._rows())

    def _rows(self) -> list[Row]:
        # A connection opens from the client: its row is an arrow to the server.
        rows = [Row(e.t_ms, e.conn, e.kind, e.direction or (CLIENT_TO_SERVER if e.kind == "open" else ""), e)
                for e in self.events]
        # Chunks the tap counted but did not record: a fold after the last recorded one.
        for number, conn in self.events.connections.items():
            recorded = folded([r for r in rows if r.conn == number and r.kind == "data"])
            missing = Row(None, number, "fold")
            for d in DIRECTIONS:
                missing.chunks[d] = conn.chunks[d] - recorded.chunks[d]
                missing.bytes[d] = conn.bytes[d] - recorded.bytes[d]
            missing.unrecorded = sum(missing.chunks.values())
            if conn.closed and missing.unrecorded:
                at = max(i for i, r in enumerate(rows) if r.conn == number and r.kind in ("data", "open"))
                rows.insert(at + 1, missing)
        return rows

    def _fold(self, rows: list[Row]) -> list[Row]:
        if len(rows) > self.max_rows:
            rows = self._fold_runs(rows)
        if len(rows) > self.max_rows:  # still too long: the middle of the record
            tail = self.max_rows // 3
            head = self.max_rows - tail - 1
            rows = rows[:head] + [folded(rows[head:len(rows) - tail])] + rows[len(rows) - tail:]
        return rows

    @staticmethod
    def _fold_runs(rows: list[Row]) -> list[Row]:
        """Each run of chunks of one connection keeps its first two rows and, if recorded, its last."""
        out: list[Row] = []
        run: list[Row] = []

        def end_run() -> None:
            if len(run) <= 4:
                out.extend(run)
            else:
                last = run[-1:] if run[-1].kind == "data" else []
                out.extend(run[:2] + [folded(run[2:len(run) - len(last)], run[0].conn)] + last)
            run.clear()

        for row in rows:
            if row.kind in ("data", "fold") and run and row.conn == run[0].conn:
                run.append(row)
                continue
            end_run()
            (run if row.kind in ("data", "fold") else out).append(row)
        end_run()
        return out

    # ----------------------------------------------------------------- words

    @staticmethod
    def _words(row: Row) -> str:
        """What a row says, besides a chunk's preview."""
        event = row.event
        sender = "client" if row.direction == CLIENT_TO_SERVER else "server"
        if row.kind == "open":
            return f"connect from {event.detail}" if event.detail else "connect"
        if row.kind == "data":
            return f"{event.size:,} B"
        if row.kind == "fin":
            return f"FIN: no more data from the {sender}"
        if row.kind == "reset":
            return f"RST: reset by the {sender}"
        if row.kind == "error":
            return f"⚠ {event.detail}"
        if row.kind == "close":
            sides = [f"{event.total_bytes.get(d, 0):,} B {arrow} in {plural(event.total_chunks.get(d, 0), 'chunk')}"
                     for d, arrow in zip(DIRECTIONS, "→←") if event.total_chunks.get(d)]
            return f"closed: {', '.join(sides)}" if sides else "closed: no data either way"
        chunks = sum(row.chunks.values())  # a fold
        words = []
        if chunks:
            amounts = [f"{row.bytes[d]:,} B {arrow}" for d, arrow in zip(DIRECTIONS, "→←") if row.chunks[d]]
            words.append(f"{plural(chunks, 'more chunk')} ({', '.join(amounts)})")
        if row.unrecorded:
            words.append(f"{row.unrecorded:,} of them not recorded" if row.unrecorded < chunks else "not recorded")
        if row.others:
            words.append(plural(row.others, "more event"))
        return "… " + ", ".join(words)

    def _times(self) -> list[str]:
        """Each row's time, in ms since the first row shown."""
        start = next((r.t_ms for r in self.rows if r.t_ms is not None), 0.0)
        return ["" if r.t_ms is None else f"{r.t_ms - start:,.1f}" for r in self.rows]

    # ----------------------------------------------------------------- text

    def __str__(self) -> str:
        lane = 64 if self.compact else 76
        lines = [f"{'ms':>9} {'#':>3}  client{('server ' + self.server).rjust(lane - 6)}"]
        for time, row in zip(self._times(), self.rows):
            words = self._words(row)
            if row.kind == "data":
                _, parts = preview_parts(row.event.preview, row.event.size, self.width)
                words += "  " + "".join(text for text, _ in parts)
            words = f" {words} "
            if row.direction in DIRECTIONS and row.kind in ("open", "data", "fin", "reset"):
                line = "─" * max(2, lane - len(words) - 3)
                words = (f"──{words}{line}▶" if row.direction == CLIENT_TO_SERVER else f"◀{line}{words}──")
            conn = "" if row.conn is None else str(row.conn)
            lines.append(f"{time:>9} {conn:>3}  |{words[:lane].ljust(lane)}|")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    # ----------------------------------------------------------------- HTML

    def _repr_html_(self) -> str:
        size = 12 if self.compact else 15
        # Inline styles only: Jupyter, reveal.js and Sphinx themes style tables
        # and may strip <style> blocks, but leave a div's own style alone.
        box = (f"font:{size}px/1.45 {FONT};color:#222;background:#fff;text-align:left;max-width:1180px;"
               "padding:6px 10px;border:1px solid #ddd;border-radius:4px;box-sizing:border-box")
        time_style = f"flex:0 0 5.5em;text-align:right;color:{GREY};padding-right:.6em;white-space:nowrap"
        conn_style = f"flex:0 0 2.2em;color:{GREY};white-space:nowrap"
        lane = (f"flex:1 1 auto;min-width:0;border-left:3px solid {LIFELINE};"  # the two lifelines
                f"border-right:3px solid {LIFELINE};padding:1px 8px")
        server = f"server {self.server}" if self.server else "server"
        out = [f'<div class="netcourse-wire" style="{box}">',
               f'<div style="display:flex;font-weight:bold"><span style="{time_style};font-weight:normal">ms</span>'
               f'<span style="{conn_style};font-weight:normal">#</span>'
               f'<div style="flex:1 1 auto;display:flex;justify-content:space-between">'
               f'<span>client</span><span>{html.escape(server)}</span></div></div>']
        for time, row in zip(self._times(), self.rows):
            conn = "" if row.conn is None else f"#{row.conn}"
            out.append(f'<div style="display:flex"><span style="{time_style}">{time}</span>'
                       f'<span style="{conn_style}">{conn}</span>'
                       f'<div style="{lane}">{self._row_html(row)}</div></div>')
        totals = self.events.connections.values()
        if totals:
            sent = sum(c.bytes[CLIENT_TO_SERVER] for c in totals)
            back = sum(c.bytes[SERVER_TO_CLIENT] for c in totals)
            open_ = sum(not c.closed for c in totals)
            summary = (f"{plural(len(totals), 'connection')}: {sent:,} B to the server, {back:,} B back"
                       + (f"; {open_} still open" if open_ else ""))
        else:
            summary = "nothing recorded yet"
        out.append(f'<div style="color:{GREY};font-size:{size - 1}px;margin-top:3px">{html.escape(summary)}</div></div>')
        return "".join(out)

    def _row_html(self, row: Row) -> str:
        words = html.escape(self._words(row))
        if row.kind in ("error", "close", "fold"):
            color = RED if row.kind == "error" else GREY
            return f'<div style="color:{color};white-space:nowrap;overflow:hidden;text-overflow:ellipsis">{words}</div>'
        color = RED if row.kind == "reset" else COLORS.get(row.direction, GREY)
        line = {"data": "solid", "open": "dotted", "fin": "dashed", "reset": "solid"}[row.kind]
        label = f'<b style="color:{color}">{words}</b>' if row.kind != "data" else f"<b>{words}</b>"
        if row.kind == "data":
            label += " " + self._preview_html(row.event)
        return _arrow(row.direction, label, color, line, 3 if row.kind == "reset" else 2)

    def _preview_html(self, event: Event) -> str:
        _, parts = preview_parts(event.preview, event.size, self.width)
        inner = "".join(f'<span style="color:{GREY}">{html.escape(text)}</span>' if dim else html.escape(text)
                        for text, dim in parts)
        return f'<span style="background:#f1f1f1;padding:0 3px;border-radius:2px;white-space:pre">{inner}</span>'


def _arrow(direction: str, label: str, color: str, line: str, weight: int) -> str:
    """A horizontal arrow across the lane with ``label`` on it, pointing to the receiver."""
    stroke = (f'<span style="flex:1 1 1.5em;min-width:1.5em;height:0;'
              f'border-top:{weight}px {line} {color}"></span>')
    side = "left" if direction == CLIENT_TO_SERVER else "right"  # the triangle's flat side
    head = (f'<span style="flex:0 0 auto;width:0;height:0;border-top:6px solid transparent;'
            f'border-bottom:6px solid transparent;border-{side}:10px solid {color}"></span>')
    text = (f'<span style="flex:0 1 auto;min-width:0;padding:0 .5em;white-space:nowrap;overflow:hidden;'
            f'text-overflow:ellipsis">{label}</span>')
    parts = [stroke, text, stroke, head] if direction == CLIENT_TO_SERVER else [head, stroke, text, stroke]
    return f'<div style="display:flex;align-items:center">{"".join(parts)}</div>'


def show(events: Iterable[Event], **options) -> Diagram:
    """A diagram of ``events`` (``tap.exchanges()``, ``read(FILE)``); options: see :class:`Diagram`."""
    return Diagram(events, **options)
