"""What the publishing tests share (tests/test_rise.py, test_slides.py, test_site.py).

- ``launch_browser``: headless Chromium driven by Playwright (the ``browser`` fixture of
  tests/conftest.py, module-scoped). Chromium comes
  from the system (Debian's ``chromium``, or the CHROMIUM environment variable) or
  from ``playwright install chromium``. Without one the tests are skipped, except
  when the CI environment variable is set: there a missing browser is a failure.
- ``Requests``: every URL a page asked for, to assert that none left this machine.
- ``asset_urls``: the URLs an HTML page or a stylesheet loads (scripts, styles,
  images, fonts...), as opposed to the links a reader may follow.
- ``build``: run ``python -m publish ...`` (cached, so cheap when up to date).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
LOCAL_SCHEMES = {"file", "data", "blob", "about", "chrome-error"}


def unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI is set, so a missing browser is a failure, not a skip")
    pytest.skip(reason)


def system_chromium() -> str | None:
    """The path of the system's Chromium (or of $CHROMIUM), or None."""
    chosen = os.environ.get("CHROMIUM")
    if chosen:  # said explicitly: no guessing
        if not os.path.exists(chosen):
            unavailable(f"CHROMIUM={chosen}: no such file")
        return chosen
    candidates = ["/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"),
                  shutil.which("google-chrome")]
    return next((path for path in candidates if path and os.path.exists(path)), None)


def launch_browser():
    """Headless Chromium for the ``browser`` fixture (tests/conftest.py): yields it, then closes it."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright is not installed (pip install -e '.[test]')")
    executable = system_chromium()
    with sync_playwright() as playwright:
        if executable is None and not os.path.exists(playwright.chromium.executable_path):
            unavailable("no Chromium found: install it (apt install chromium, or: playwright install chromium) "
                        "or set CHROMIUM to its path")
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in LOCAL_SCHEMES or (parts.scheme in {"http", "https", "ws", "wss"}
                                             and (parts.hostname or "") in LOCAL_HOSTS)


class Requests:
    """Every request of a browser context (or page); those off this machine are listed.

    With ``block`` (the default) they are also refused; Playwright then bypasses the
    browser's HTTP cache, so a test that opens the same heavy page many times may
    only record them (the machine is offline during the tests anyway).
    """

    def __init__(self, target, block: bool = True):
        self.all: list[str] = []
        self.outside: list[str] = []
        target.on("request", self._record)
        if block:
            target.route("**/*", self._route)

    def _record(self, request):
        self.all.append(request.url)
        if not is_local(request.url) and request.url not in self.outside:
            self.outside.append(request.url)

    def _route(self, route):
        url = route.request.url
        if is_local(url):
            route.continue_()
        else:
            if url not in self.outside:
                self.outside.append(url)
            route.abort()


class _Assets(HTMLParser):
    ATTRIBUTES = {"script": ["src"], "img": ["src", "srcset"], "iframe": ["src"], "audio": ["src"],
                  "video": ["src", "poster"],
                  "source": ["src", "srcset"], "embed": ["src"], "object": ["data"], "track": ["src"], "input": ["src"]}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []
        self.styles: list[str] = []
        self._in_style = False
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "link" and attrs.get("href"):
            rel = (attrs.get("rel") or "").lower()
            if rel not in {"canonical", "alternate", "next", "prev", "search", "author", "license", "help", "index"}:
                self.urls.append(attrs["href"])
            else:
                self.links.append(attrs["href"])
        for name in self.ATTRIBUTES.get(tag, []):
            value = attrs.get(name)
            if value:
                self.urls += [part.strip().split()[0] for part in value.split(",")] if name == "srcset" else [value]
        if attrs.get("style"):
            self.styles.append(attrs["style"])
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)


CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)|@import\s+['"]([^'"]+)""")
CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
JS_IMPORT = re.compile(r"""\bimport\s*(?:[\w{}*\s,]+from\s*)?['"](https?:)?//[^'"]+['"]""")


def css_urls(css: str) -> list[str]:
    return [a or b for a, b in CSS_URL.findall(CSS_COMMENT.sub("", css))]


def parse_html(text: str) -> _Assets:
    parser = _Assets()
    parser.feed(text)
    return parser


def asset_urls(text: str) -> list[str]:
    """What a page loads by itself: script, style, image, font... URLs (not <a href> links)."""
    parser = parse_html(text)
    urls = parser.urls + [u for css in parser.styles for u in css_urls(css)]
    urls += [m.group(0) for m in JS_IMPORT.finditer(text)]
    return urls


def is_remote(url: str) -> bool:
    return url.startswith("//") or urlsplit(url).scheme not in {"", "file", "data", "blob", "about"}


def build(*what: str, root: Path = ROOT, build_dir: Path | None = None, check: bool = True,
          timeout: float = 1200) -> subprocess.CompletedProcess:
    """``python -m publish WHAT...`` on a course tree; its output is returned (and shown on failure)."""
    command = [sys.executable, "-m", "publish", *what, "--root", str(root)]
    if build_dir is not None:
        command += ["--build", str(build_dir)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}")
    return result


def screenshot_path(kind: str, notebook: Path) -> Path:
    rel = notebook.relative_to(ROOT).with_suffix("")
    path = SCREENSHOTS / kind / ("-".join(rel.parts) + ".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def resolve(page: Path, url: str) -> Path:
    """The file a link of ``page`` leads to (a folder: its index.html)."""
    path = unquote(urlsplit(url).path)
    target = (page.parent / path) if path else page
    return target / "index.html" if target.is_dir() else target
