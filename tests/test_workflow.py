"""The GitHub Actions workflow builds the book with the Makefile's targets and publishes it."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


def _targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), flags=re.M))


def test_the_workflow_parses_and_calls_the_makefile():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    jobs = workflow["jobs"]
    runs = {name: [step.get("run", "") for step in job["steps"]] for name, job in jobs.items()}
    assert "make test" in runs["test"] and "make book" in runs["book"]
    called = {word for commands in runs.values() for command in commands for word in re.findall(r"make (\w+)", command)}
    assert called <= _targets(), f"targets the Makefile lacks: {called - _targets()}"
    python = [s["with"]["python-version"] for job in jobs.values() for s in job["steps"] if "setup-python" in s.get("uses", "")]
    assert python and set(python) == {"3.11"}  # the version the pins are made for (pyproject's requires-python)


def test_the_workflow_publishes_the_built_html_from_main_only():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    jobs = workflow["jobs"]
    upload = [s for s in jobs["book"]["steps"] if "upload-pages-artifact" in s.get("uses", "")]
    assert upload and upload[0]["with"]["path"] == "_build/html"
    assert "deploy-pages" in jobs["publish"]["steps"][0]["uses"]
    assert set(jobs["publish"]["needs"]) == {"test", "book"}
    assert "refs/heads/main" in jobs["publish"]["if"] and workflow[True]["push"]["branches"] == ["main"]  # YAML 1.1: on = True
    cache = [s for s in jobs["book"]["steps"] if "actions/cache" in s.get("uses", "")]
    assert cache and cache[0]["with"]["path"] == "runs"
