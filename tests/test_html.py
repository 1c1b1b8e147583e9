"""The built book in a real headless Chromium (Debian's, driven by Playwright): pages load offline,
math renders, every figure loads. `make test` builds the book (smoke profile) and sets BOOK_HTML."""

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / os.environ.get("BOOK_HTML", "_build/html")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic"]
# page -> (least number of figures, least number of rendered formulas)
PAGES = {"executed/01_task.html": (2, 5), "executed/02_proofs.html": (1, 10), "executed/03_linear_vs_gd.html": (3, 5),
         "executed/04_softmax_vs_kernel_gd.html": (5, 5), "executed/05_extraction.html": (3, 5),
         "executed/06_d10_dynamics.html": (1, 5), "executed/07_selection_vs_elimination.html": (2, 3),
         "executed/99_summary.html": (0, 0),
         "book/intro.html": (0, 0), "book/rerun.html": (0, 0), "book/reproduction_notes.html": (0, 3)}

pytestmark = pytest.mark.skipif("BOOK_HTML" not in os.environ and not HTML.exists(),
                                reason="no built book: `make test` builds one and sets BOOK_HTML")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    assert HTML.is_dir(), f"{HTML} does not exist: build the book first"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


def _open(browser, page_path: str):
    page = browser.new_page()
    outside: list[str] = []

    def route(r):
        if r.request.url.startswith(("file://", "data:", "blob:")):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto((HTML / page_path).as_uri(), wait_until="load")
    return page, outside


def test_index_redirects_to_the_intro(browser):
    page, outside = _open(browser, "index.html")
    page.wait_for_url("**/book/intro.html", timeout=10_000)
    assert "Transformers may learn to classify" in page.inner_text("main")
    assert outside == []


@pytest.mark.parametrize("page_path", PAGES)
def test_page_loads_offline_with_math_and_figures(browser, page_path):
    min_figures, min_math = PAGES[page_path]
    page, outside = _open(browser, page_path)
    assert outside == [], f"requests leaving the book: {outside[:5]}"
    if min_math:
        page.wait_for_function(f"document.querySelectorAll('mjx-container').length >= {min_math}", timeout=20_000)
        assert "\\(" not in page.inner_text("main"), "raw TeX left on the page"
    images = page.eval_on_selector_all(
        "main img", "els => els.map(e => ({src: e.getAttribute('src'), ok: e.complete && e.naturalWidth > 0}))")
    assert all(img["ok"] for img in images), f"images that did not load: {[i['src'] for i in images if not i['ok']]}"
    assert len(images) >= min_figures
    if min_figures:
        captions = page.eval_on_selector_all("main figure figcaption", "els => els.map(e => e.innerText)")
        assert len(captions) >= min_figures and all(c.strip() for c in captions)
    page.close()


CHAPTERS = [page for page in PAGES if page.startswith("executed/0")]


@pytest.mark.parametrize("page_path", [*CHAPTERS, "executed/99_summary.html", "book/intro.html"])
def test_verdicts_render_as_tables(browser, page_path):
    """Every chapter ends with its verdict table and the summary and the introduction collect them:
    real <table> elements in the page, and no Markdown table left as raw text."""
    page, _ = _open(browser, page_path)
    text = page.inner_text("main")
    assert not any(mark in text for mark in ("|---", "| ---", "---|")), "a Markdown table reached the page as text"
    verdict_tables = page.eval_on_selector_all("main table.verdicts", "els => els.length")
    tables = page.eval_on_selector_all("main table", "els => els.map(e => e.querySelectorAll('tr').length)")
    if page_path == "book/intro.html":  # the Markdown include of the summary's verdicts
        assert tables and max(tables) >= 8 and "reproduced" in text
    else:
        assert verdict_tables == 1, f"{verdict_tables} verdict tables"
        assert all(rows >= 2 for rows in tables)
    page.close()


def test_mathjax_is_served_by_the_book():
    assert (HTML / "mathjax" / "tex-svg-full.js").stat().st_size > 1_000_000
