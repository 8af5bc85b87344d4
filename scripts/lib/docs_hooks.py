"""MkDocs hooks for the documentation site (mkdocs.yml `hooks:`; scripts/docs builds it).

- Pages in docs/ that the nav does not list yet (a page added by another change) are
  appended to the nav under "More", so they are reachable and searched, not an error.
- Repository files outside docs/ that a page links to as `../X` (the committed plots and
  results in benchmarks/results/, a test, a script) are published with the site under
  repo/X, so the link that works when the Markdown is read in the repository also works
  in the site; a `../X` that names no file stays a broken link, which fails the build.
- `<!-- include: README.md#NAME -->` is replaced by the README's section between
  `<!-- site:NAME -->` and `<!-- /site:NAME -->` (links into docs/ rewritten), so the
  platform table has one source and the site says what the README says.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File, Files, InclusionLevel

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\((\.\./[^)\s#]+)")
INCLUDE = re.compile(r"<!-- include: README\.md#([\w-]+) -->")


def _nav_pages(nav: object) -> set[str]:
    """Every page path the nav (mkdocs.yml's nested lists and mappings) names."""
    if isinstance(nav, str):
        return {nav}
    if isinstance(nav, list):
        return set().union(*(_nav_pages(item) for item in nav)) if nav else set()
    if isinstance(nav, dict):
        return set().union(*(_nav_pages(value) for value in nav.values())) if nav else set()
    return set()


def on_config(config, **kwargs):
    nav = config["nav"]
    if not nav:
        return config
    listed = _nav_pages(nav)
    docs = Path(config["docs_dir"])
    extra = sorted(p.relative_to(docs).as_posix() for p in docs.rglob("*.md"))
    extra = [p for p in extra if p not in listed]
    if extra:
        nav.append({"More": extra})
    return config


class _RepoFile(File):
    """A repository file outside docs/ that a page links to: copied as it is."""

    def is_documentation_page(self) -> bool:
        return False

    def is_static_page(self) -> bool:
        return True


def _linked_repo_files(docs: Path) -> set[str]:
    """The `../X` targets of the pages' links and images, as paths from docs/."""
    targets = set()
    for page in docs.rglob("*.md"):
        page_dir = page.parent.relative_to(docs).as_posix()
        for match in LINK.finditer(page.read_text(encoding="utf-8")):
            uri = posixpath.normpath(posixpath.join(page_dir, match.group(1)))
            if uri.startswith("../"):
                targets.add(uri)
    return targets


def on_files(files: Files, config, **kwargs) -> Files:
    docs = Path(config["docs_dir"])
    for uri in sorted(_linked_repo_files(docs)):
        path = (docs / uri).resolve()
        if not path.is_file() or ROOT not in path.parents:
            continue  # left to MkDocs, which reports the link as broken
        rel = path.relative_to(ROOT).as_posix()
        files.append(_RepoFile(uri, src_dir=str(docs), dest_dir=config["site_dir"],
                               use_directory_urls=config["use_directory_urls"],
                               dest_uri=f"repo/{rel}", inclusion=InclusionLevel.INCLUDED))
    return files


def readme_section(name: str, page_src_uri: str) -> str:
    """The README's section NAME, its relative links made relative to the page."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"<!-- site:{name} -->\n(.*?)<!-- /site:{name} -->", text, re.S)
    if match is None:
        raise ValueError(f"README.md has no <!-- site:{name} --> section")
    page_dir = posixpath.dirname(page_src_uri)

    def relink(m: re.Match[str]) -> str:
        target = m.group(2)
        if re.match(r"^[a-z]+:|^#|^/", target):
            return m.group(0)
        # README links are relative to the repository root; docs/ is the site's root.
        in_repo = target[len("docs/"):] if target.startswith("docs/") else "../" + target
        return f"{m.group(1)}({posixpath.relpath(in_repo, page_dir or '.')})"

    return re.sub(r"(\]\s?)\(([^)\s]+)\)", relink, match.group(1))


def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    return INCLUDE.sub(lambda m: readme_section(m.group(1), page.file.src_uri), markdown)
