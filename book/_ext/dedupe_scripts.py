"""Sphinx extension: each page lists a script once.

sphinx-thebe (always loaded by Jupyter Book 1) adds its inline configuration on every
`env-before-read-docs`, which fires twice in a Jupyter Book build, so every page declared
`const THEBE_JS_URL` twice and the browser reported a SyntaxError. The book does not use thebe;
this keeps the first of identical scripts (same file and attributes, the priority aside) on each page.
"""

from __future__ import annotations


def _unique_scripts(app, pagename, templatename, context, doctree) -> None:
    seen, unique = set(), []
    for script in context.get("script_files", []):
        # an inline script's file name is None or "" depending on who added it
        key = (str(getattr(script, "filename", script) or ""), repr(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _unique_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
