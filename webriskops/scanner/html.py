"""What an HTML page contains, as far as the checks care: one pass of the stdlib parser.

``html.parser`` is forgiving with broken markup, needs no compiled dependency and is
fast enough for the scanner's page limits (a few hundred pages per run); the checks
need tags and attributes, not a DOM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

# Elements whose URL attribute loads a subresource, and whether it can run code or
# change the page (active mixed content, blocked by browsers) or only shows it (passive).
SUBRESOURCES = {
    "script": ("src", "active"),
    "iframe": ("src", "active"),
    "frame": ("src", "active"),
    "object": ("data", "active"),
    "embed": ("src", "active"),
    "img": ("src", "passive"),
    "audio": ("src", "passive"),
    "video": ("src", "passive"),
    "source": ("src", "passive"),
    "track": ("src", "passive"),
}


@dataclass
class Form:
    """A form: where it posts and whether it asks for a password."""

    action: str | None
    method: str
    has_password: bool = False
    tag: str = ""


@dataclass
class Document:
    """The parts of a page the checks read."""

    title: str | None = None
    lang: str | None = None
    has_html_tag: bool = False
    links: list[str] = field(default_factory=list)
    forms: list[Form] = field(default_factory=list)
    images_without_alt: list[tuple[str, str]] = field(default_factory=list)  # (src, tag)
    subresources: list[tuple[str, str, str]] = field(default_factory=list)  # (url, kind, tag)
    generator: str | None = None
    headings: list[str] = field(default_factory=list)
    base_href: str | None = None


def _tag_text(tag: str, attrs: list[tuple[str, str | None]]) -> str:
    parts = [tag] + [name if value is None else f'{name}="{value}"' for name, value in attrs]
    return "<" + " ".join(parts)[:500] + ">"


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.doc = Document()
        self._in_title = False
        self._title: list[str] = []
        self._heading: list[str] | None = None
        self._form: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: (value or "") for name, value in attrs}
        doc = self.doc
        if tag == "html":
            doc.has_html_tag = True
            if doc.lang is None and values.get("lang", "").strip():
                doc.lang = values["lang"].strip()
        elif tag == "title" and doc.title is None:
            self._in_title = True
        elif tag == "base" and values.get("href") and doc.base_href is None:
            doc.base_href = values["href"].strip()
        elif tag in ("a", "area") and values.get("href"):
            rel = values.get("rel", "").lower().split()
            if "nofollow" not in rel:
                doc.links.append(values["href"].strip())
        elif tag == "meta" and values.get("name", "").lower() == "generator":
            doc.generator = values.get("content", "").strip() or None
        elif tag == "form":
            self._form = Form(
                action=values.get("action", "").strip() or None,
                method=(values.get("method") or "get").strip().lower(),
                tag=_tag_text(tag, attrs),
            )
            doc.forms.append(self._form)
        elif tag == "input" and values.get("type", "").lower() == "password":
            if self._form is not None:
                self._form.has_password = True
            else:  # a password field outside any form still posts somewhere via script
                doc.forms.append(Form(None, "post", True, _tag_text(tag, attrs)))
        elif tag in ("h1", "h2"):
            self._heading = []
        if tag == "img" and "alt" not in values:
            doc.images_without_alt.append((values.get("src", "").strip(), _tag_text(tag, attrs)))
        if tag == "link" and values.get("href"):
            rel = values.get("rel", "").lower().split()
            if "stylesheet" in rel or "preload" in rel or "icon" in rel:
                kind = "active" if "stylesheet" in rel else "passive"
                doc.subresources.append((values["href"].strip(), kind, _tag_text(tag, attrs)))
        elif tag in SUBRESOURCES:
            attribute, kind = SUBRESOURCES[tag]
            if values.get(attribute):
                doc.subresources.append((values[attribute].strip(), kind, _tag_text(tag, attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._in_title:
            self._in_title = False
            self.doc.title = " ".join("".join(self._title).split())
        elif tag == "form":
            self._form = None
        elif tag in ("h1", "h2") and self._heading is not None:
            self.doc.headings.append(" ".join("".join(self._heading).split()))
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title.append(data)
        if self._heading is not None:
            self._heading.append(data)


def parse(text: str) -> Document:
    """Parse an HTML page; never raises on malformed markup."""
    parser = _Parser()
    try:
        parser.feed(text)
        parser.close()
    except (AssertionError, ValueError):  # html.parser's rare give-ups on garbage
        pass
    if parser._in_title:  # an unclosed <title>
        parser.doc.title = " ".join("".join(parser._title).split())
    return parser.doc
