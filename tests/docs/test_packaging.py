"""The served docs, templates and static files are package data, found as an install finds them.

No wheel is built (that needs the network for build isolation): the docs blueprint must
resolve its pages through ``importlib.resources`` inside ``webriskops.docs``, nothing may
point at the repository's old ``docs/scanner``, and every data file under the package
must be matched by a ``[options.package_data]`` glob of ``setup.cfg``, which is what a
regular wheel ships.
"""

from __future__ import annotations

import configparser
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

from webriskops import docs

ROOT = Path(__file__).resolve().parent.parent.parent
PACKAGE = ROOT / "webriskops"
# Directories holding files that are not Python modules yet must ship in the wheel.
DATA_DIRS = ["templates", "static", "docs/scanner"]


def test_docs_are_found_through_the_package_not_the_repository():
    """DOCS_DIR is the package resource; every Markdown file there is a page."""
    assert str(docs.DOCS_DIR) == str(files("webriskops.docs") / "scanner")
    on_disk = sorted(path.stem for path in (PACKAGE / "docs" / "scanner").glob("*.md"))
    assert on_disk and "index" in on_disk
    assert docs.page_names() == on_disk
    assert not (ROOT / "docs" / "scanner").exists()


def test_pages_load_from_another_working_directory(tmp_path):
    """A process started elsewhere (as gunicorn from an install would be) still lists them."""
    code = "from webriskops.docs import page_names, render_page; print(page_names());"
    code += "print(render_page('index')[0])"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout
    assert "'runtime'" in out
    assert out.splitlines()[1].strip()


def _package_data() -> dict[str, list[str]]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    section = parser["options.package_data"]
    return {
        package: [glob.strip() for glob in value.replace("\n", ",").split(",") if glob.strip()]
        for package, value in section.items()
    }


def test_every_data_file_is_package_data():
    """Each template, static file and served doc matches a package_data glob of its package."""
    shipped: set[Path] = set()
    for package, globs in _package_data().items():
        base = ROOT.joinpath(*package.split("."))
        for pattern in globs:
            shipped.update(path for path in base.glob(pattern) if path.is_file())
    data = {
        path
        for directory in DATA_DIRS
        for path in (PACKAGE / directory).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert data, "no data files found: the layout moved"
    assert data - shipped == set()


def test_manifest_ships_the_served_docs():
    """The sdist carries them too (MANIFEST.in), so a wheel built from it serves docs."""
    manifest = (ROOT / "MANIFEST.in").read_text(encoding="utf-8").split("\n")
    for directory in DATA_DIRS:
        assert any(
            line.startswith(f"recursive-include webriskops/{directory} ") for line in manifest
        )
