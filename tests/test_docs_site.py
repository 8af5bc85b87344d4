"""The documentation site as a reader sees it: build/site (built by scripts/docs when
older than its sources) served over HTTP and rendered in headless Chromium. Every page
reachable from the index is loaded; its links, anchors and images must resolve; the
index and the API reference must show their headings, the API page every public name;
search must find a word. Screenshots go to build/site-shots/.

Needs Debian's `chromium` (scripts/install-deps installs it): skipped without it,
except under REEXEC_CI=1, where a missing browser fails."""

from __future__ import annotations

import ast
import functools
import http.server
import os
import re
import subprocess
import threading
import urllib.parse
from pathlib import Path

import pytest
from _chromium import Chromium, find_chromium

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "build" / "site"
SHOTS = ROOT / "build" / "site-shots"
SOURCES = [ROOT / "mkdocs.yml", ROOT / "README.md", ROOT / "docs", ROOT / "reexec_native",
           ROOT / "scripts" / "lib" / "docs_hooks.py", ROOT / "benchmarks" / "results"]

# What a page shows once rendered: links, anchors, images (loaded or not), headings.
PAGE_FACTS = """(() => ({
  title: document.title,
  heads: [...document.querySelectorAll('h1,h2,h3')].map(h => [h.tagName, h.id, h.textContent.replace('\\u00b6', '').trim()]),
  ids: [...document.querySelectorAll('[id]')].map(e => e.id),
  links: [...document.querySelectorAll('a[href]')].map(a => a.href),
  imgs: [...document.querySelectorAll('img')].map(i => [i.src, i.complete && i.naturalWidth > 0]),
  cells: [...document.querySelectorAll('td')].map(td => td.textContent.trim()),
  search: !!document.querySelector('[data-md-component=search] input'),
}))()"""

# Type a word into the search box, as a reader does, and count the results.
SEARCH = """(async () => {
  const input = document.querySelector('[data-md-component=search] input');
  for (let i = 0; i < 100; i++) {
    input.value = 'execveat';
    input.dispatchEvent(new Event('input', {bubbles: true}));
    input.dispatchEvent(new KeyboardEvent('keyup', {bubbles: true, key: 't'}));
    await new Promise(r => setTimeout(r, 200));
    const n = document.querySelectorAll('.md-search-result__item').length;
    if (n) return n;
  }
  return 0;
})()"""


def chromium_or_skip() -> str:
    binary = find_chromium()
    if binary is None:
        if os.environ.get("REEXEC_CI") == "1":
            pytest.fail("chromium is required in CI (scripts/install-deps installs it)")
        pytest.skip("no chromium (Debian: apt-get install chromium; scripts/install-deps does)")
    return binary


def newest_source() -> float:
    times = []
    for source in SOURCES:
        paths = source.rglob("*") if source.is_dir() else [source]
        times += [p.stat().st_mtime for p in paths if p.is_file() and "__pycache__" not in p.parts]
    return max(times)


@pytest.fixture(scope="module")
def site() -> Path:
    if not (ROOT / "mkdocs.yml").exists():
        pytest.skip("no mkdocs.yml next to the tests (tests copied without the docs)")
    chromium_or_skip()
    index = SITE / "index.html"
    if not index.exists() or index.stat().st_mtime < newest_source():
        result = subprocess.run([str(ROOT / "scripts" / "docs")], cwd=ROOT, capture_output=True,
                                text=True, timeout=1200)
        assert result.returncode == 0, f"scripts/docs failed:\n{result.stdout}\n{result.stderr}"
    return SITE


@pytest.fixture(scope="module")
def base_url(site: Path):
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def crawl(base_url: str) -> dict:
    """Every page reachable from the index, rendered; plus the links that did not load."""
    pages: dict[str, dict] = {}
    missing: list[tuple[str, str]] = []
    queue, seen = [base_url], {base_url}
    with Chromium(chromium_or_skip()) as browser:
        while queue:
            url = queue.pop(0)
            path = urllib.parse.urlsplit(url).path
            local = SITE / urllib.parse.unquote(path).lstrip("/")
            if local.is_dir():
                local = local / "index.html"
            if not local.is_file():
                missing.append((url, "no such file in the site"))
                continue
            if local.suffix != ".html":
                continue
            browser.load(url)
            facts = browser.evaluate(PAGE_FACTS)
            if url == base_url:
                browser.screenshot(SHOTS / "index.png")
                facts["search_hits"] = browser.evaluate(SEARCH)
            if path.rstrip("/").endswith("/api"):
                browser.screenshot(SHOTS / "api.png")
            pages[url] = facts
            for link in facts["links"] + [src for src, _ in facts["imgs"]]:
                target = urllib.parse.urldefrag(link).url
                if target.startswith(base_url) and target not in seen:
                    seen.add(target)
                    queue.append(target)
    return {"pages": pages, "missing": missing, "base": base_url}


def headings(page: dict) -> list[str]:
    return [text for _, _, text in page["heads"]]


def public_names() -> list[str]:
    tree = ast.parse((ROOT / "reexec_native" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "__all__":
            return list(ast.literal_eval(node.value))
    raise AssertionError("reexec_native/__init__.py has no __all__")


def test_every_page_is_reached_and_no_internal_link_is_broken(crawl):
    pages, base = crawl["pages"], crawl["base"]
    assert not crawl["missing"], crawl["missing"]
    # The nav reaches every built page (none left orphaned).
    built = {p.relative_to(SITE).as_posix() for p in SITE.rglob("index.html")}
    reached = {urllib.parse.urlsplit(u).path.lstrip("/") + "index.html" for u in pages}
    assert built - {"index.html"} <= reached, sorted(built - reached)
    broken = []
    for url, page in pages.items():
        for link in page["links"]:
            target, fragment = urllib.parse.urldefrag(link)
            if not target.startswith(base) or not fragment:
                continue
            target_page = pages.get(target)
            if target_page is not None and urllib.parse.unquote(fragment) not in target_page["ids"]:
                broken.append(f"{url} -> {link}")
        broken += [f"{url}: image {src} did not load" for src, ok in page["imgs"] if not ok]
    assert not broken, "\n".join(broken)


def test_index_shows_getting_started(crawl):
    index = crawl["pages"][crawl["base"]]
    assert index["title"] == "reexec-native"
    shown = headings(index)
    for heading in ("reexec-native", "Install", "The two-line use", "The seed scenario, from a clone",
                    "The command line"):
        assert heading in shown, shown
    assert (SHOTS / "index.png").stat().st_size > 10_000


def test_search_finds_a_word(crawl):
    index = crawl["pages"][crawl["base"]]
    assert index["search"]
    assert index["search_hits"] > 0


def test_api_page_shows_every_public_name(crawl):
    api = crawl["pages"][crawl["base"] + "api/"]
    shown = headings(api)
    assert shown[0] == "API reference"
    for section in ("Re-executing", "Opening and executing a program", "The cargo fallback", "Errors"):
        assert section in shown, shown
    ids = set(api["ids"])
    missing = [name for name in public_names() if f"reexec_native.{name}" not in ids]
    assert not missing, f"the API page lacks {missing}"
    # Generated from the source: a method, a signature's type hint, a docstring's words.
    assert "reexec_native.ExeHandle.exec" in ids
    assert (SHOTS / "api.png").stat().st_size > 10_000


def test_performance_page_shows_the_committed_plots(crawl):
    page = crawl["pages"][crawl["base"] + "performance/"]
    shown = {Path(urllib.parse.urlsplit(src).path).name for src, ok in page["imgs"] if ok}
    committed = {p.name for p in (ROOT / "benchmarks" / "results").glob("*.png")}
    assert committed and committed <= shown, (committed, shown)


def markdown_text(cell: str) -> str:
    """A table cell's Markdown as the rendered page shows it."""
    cell = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", cell.replace("\\|", "|"))
    return re.sub(r"\s+", " ", cell.replace("`", "").replace("**", "")).strip()


def test_platform_page_says_what_the_readme_says(crawl):
    """The site's "verified here" column is the README's platform table, row by row."""
    page = crawl["pages"][crawl["base"] + "platforms/"]
    assert "Platforms" in headings(page)
    readme = (ROOT / "README.md").read_text()
    rows = [re.split(r"(?<!\\)\|", line)[1:-1] for line in readme.splitlines()
            if line.startswith("| ") and not line.startswith(("| ---", "| wheel target"))]
    assert len(rows) >= 8, rows
    cells = {re.sub(r"\s+", " ", c) for c in page["cells"]}
    for row in rows:
        for cell in row:
            assert markdown_text(cell) in cells, markdown_text(cell)


def test_readme_links_name_files_that_exist():
    """The README is read on the repository's page and on PyPI: its links into the
    site's sources must name real files (the site itself is checked above)."""
    readme = ROOT / "README.md"
    if not (ROOT / "docs").is_dir():
        pytest.skip("no docs/ next to the tests")
    targets = re.findall(r"\]\(([^)\s#]+)(?:#[^)]*)?\)", readme.read_text())
    assert len(targets) > 10, targets
    missing = [t for t in targets if not re.match(r"^[a-z]+:", t) and not (ROOT / t).exists()]
    assert not missing, missing
