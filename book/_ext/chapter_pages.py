"""Sphinx extension: what every page of the book carries besides the chapter itself.

- A link to the paper, and to the source repository when the build knows it (the environment
  variable BOOK_REPOSITORY_URL, else GitHub Actions' GITHUB_SERVER_URL/GITHUB_REPOSITORY, else
  the git remote `origin`); without one the page has no repository link rather than a wrong one.
- Beside the download of the executed `.ipynb`, the chapter's py:percent source (`notebooks/*.py`,
  the source of truth a reader edits and reruns).
- The cell papermill injects with the run's parameters starts folded ("hide-input"): the reader
  can open it to see what this build ran with, and it does not interrupt the chapter.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

PAPER_URL = "https://openreview.net/forum?id=ngs41s5vvX"
PAPER_TITLE = ("Dragutinović, Saxe, Singh (2025): Transformers May Learn to Classify In-Context by "
               "Context-Adaptive Kernel Gradient Descent")
CHAPTER = re.compile(r"^executed/(\d\d_[A-Za-z0-9_]+)$")


def repository_url(root: Path) -> str | None:
    """The https address of the source repository, or None when the build cannot tell."""
    if os.environ.get("BOOK_REPOSITORY_URL"):
        return os.environ["BOOK_REPOSITORY_URL"].rstrip("/")
    if os.environ.get("GITHUB_REPOSITORY"):
        return f"{os.environ.get('GITHUB_SERVER_URL', 'https://github.com')}/{os.environ['GITHUB_REPOSITORY']}"
    try:
        remote = subprocess.run(["git", "-C", str(root), "remote", "get-url", "origin"], capture_output=True, text=True,
                                check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    ssh = re.match(r"^git@([^:]+):(.+?)(\.git)?$", remote)
    if ssh:
        return f"https://{ssh.group(1)}/{ssh.group(2)}"
    return re.sub(r"\.git$", "", remote) if remote.startswith("https://") else None


def _notebooks_folder(srcdir: Path) -> Path | None:
    """The chapters' py:percent sources: notebooks/ beside the book's root, or above it (a profile's
    tree such as _build/smoke is built from inside the repository)."""
    for folder in (srcdir, *srcdir.resolve().parents):
        if (folder / "notebooks").is_dir() and (folder / "icl_lib").is_dir():
            return folder / "notebooks"
    return None


def _fold_injected_parameters(app, docname: str, source: list[str]) -> None:
    if not CHAPTER.match(docname) or not source[0].lstrip().startswith("{"):
        return
    notebook = json.loads(source[0])
    changed = False
    for cell in notebook.get("cells", []):
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags and "hide-input" not in tags:
            cell["metadata"]["tags"] = [*tags, "hide-input"]
            changed = True
    if changed:
        source[0] = json.dumps(notebook)


def _header_links(app, pagename, templatename, context, doctree) -> None:
    buttons = context.get("header_buttons")
    if buttons is None:  # not a sphinx-book-theme page
        return
    chapter = CHAPTER.match(pagename)
    sources = _notebooks_folder(Path(app.srcdir))
    source = sources / f"{chapter.group(1)}.py" if chapter and sources else None
    if source is not None and source.is_file():
        target = Path(app.outdir) / "_sources" / "executed" / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        for group in buttons:
            if group.get("label") == "download-buttons":
                group["buttons"].insert(1, {
                    "type": "link", "url": f'{context["pathto"]("_sources", 1)}/executed/{source.name}', "text": ".py",
                    "tooltip": "Download the chapter's source (py:percent)", "icon": "fas fa-code",
                    "label": "download-py-button"})
    links = [{"type": "link", "url": PAPER_URL, "tooltip": f"The paper: {PAPER_TITLE}", "icon": "fas fa-scroll",
              "label": "paper-button"}]
    if app.config.book_repository_url:
        links.append({"type": "link", "url": app.config.book_repository_url, "tooltip": "Source repository",
                      "icon": "fab fa-github", "label": "repository-button"})
    buttons[:0] = links


def _set_repository(app, config) -> None:
    config.book_repository_url = repository_url(Path(app.srcdir))


def setup(app):
    app.add_config_value("book_repository_url", None, "html")
    app.connect("config-inited", _set_repository)
    app.connect("source-read", _fold_injected_parameters)
    app.connect("html-page-context", _header_links, priority=502)  # after the theme's buttons (501)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
