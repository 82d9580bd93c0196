"""The ``docs`` blueprint: the scanner-operator pages, Markdown in ``webriskops/docs/scanner``.

The Markdown files are the source (readable in the repository too) and ship inside the
package, found through ``importlib.resources`` so that an installed wheel serves them as an
editable checkout does; the app renders them
with the ``markdown`` library, rewrites ``page.md`` links to served URLs and caches each
page per process. No login is needed: the pages contain placeholders only.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib.resources import files

import markdown
from flask import Blueprint, abort, render_template
from markupsafe import Markup

bp = Blueprint("docs", __name__, url_prefix="/docs")

# Package data, not a path relative to the repository: a non-editable install has no repo.
DOCS_DIR = files(__name__) / "scanner"
_PAGE = re.compile(r"^[a-z0-9-]{1,64}$")
_MD_LINK = re.compile(r'href="([a-z0-9-]+)\.md(#[^"]*)?"')


def page_names() -> list[str]:
    """The names of the documentation pages."""
    return sorted(
        entry.name.removesuffix(".md")
        for entry in DOCS_DIR.iterdir()
        if entry.name.endswith(".md") and entry.is_file()
    )


@lru_cache(maxsize=32)
def render_page(name: str) -> tuple[str, Markup]:
    """A page's title and HTML body."""
    text = (DOCS_DIR / f"{name}.md").read_text(encoding="utf-8")
    html = markdown.markdown(
        text, extensions=["fenced_code", "tables", "toc"], output_format="html"
    )
    html = _MD_LINK.sub(lambda m: f'href="{m.group(1)}{m.group(2) or ""}"', html)
    title = text.splitlines()[0].lstrip("# ").strip()
    return title, Markup(html)  # noqa: S704 - our own Markdown, rendered by the markdown library


@bp.get("/")
def index():
    """The guide's first page."""
    return page("index")


@bp.get("/<name>")
def page(name: str):
    """One documentation page."""
    if not _PAGE.match(name) or not (DOCS_DIR / f"{name}.md").is_file():
        abort(404)
    title, body = render_page(name)
    return render_template("docs/page.html", title=title, body=body, pages=page_names())
