# Two commands for a fresh machine: `make book` (the main job) and `make test`.
# Each target is one or two commands; the work lives in icl_lib/, notebooks/ and tests/.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROFILE ?= book
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.py))
MATHJAX := book/_extra/mathjax/tex-svg-full.js
JB_FLAGS := --warningiserror --nitpick --keep-going
# where `make book` trains the runs: empty or local[:K] (Dask workers here, one per core or K), or a
# Dask scheduler's address (tcp://host:8786)
SCHEDULER ?=

.PHONY: setup sync tree train plan execute book paper test bench lint clean

setup: $(VENV)/.installed $(MATHJAX)

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.txt -e .
	touch $@

# MathJax 3 (self-contained SVG build) from the npm registry, served by the book itself.
$(MATHJAX):
	mkdir -p .cache $(dir $@)
	cd .cache && npm pack --silent mathjax@3.2.2 >/dev/null
	tar -xzf .cache/mathjax-3.2.2.tgz -C .cache package/es5/tex-svg-full.js
	cp .cache/package/es5/tex-svg-full.js $@

# py:percent is the source of truth; refresh the paired .ipynb from it.
sync: setup
	$(BIN)/jupytext --quiet --to ipynb --update $(NOTEBOOKS)

# Where a profile's executed notebooks, results, runs and HTML live: the book profile (what is
# published) at the top, any other profile in a tree of its own, so that `make test` (smoke) never
# overwrites the book's outputs. Chapters write ../results and ../runs relative to <tree>/executed.
TREE = $(if $(filter book,$(PROFILE)),.,_build/$(PROFILE))

tree:
ifneq ($(TREE),.)
	mkdir -p $(TREE)
	cp -r _config.yml _toc.yml book $(TREE)/
endif

# Execute every chapter with papermill into <tree>/executed (same depth as notebooks/, so relative
# paths such as ../results resolve the same way when nbval re-executes them). Training shows a live
# line on the terminal, and a line per chapter when it ends; without a terminal the same goes to
# <tree>/build.log (icl_lib.progress).
execute: sync tree
	mkdir -p $(TREE)/executed $(TREE)/results
	rm -f $(TREE)/build.log
	for nb in $(NOTEBOOKS:.py=.ipynb); do \
	  ICL_PROGRESS_LOG=$(abspath $(TREE))/build.log \
	  $(BIN)/papermill --no-progress-bar --cwd $(TREE)/executed $$nb $(TREE)/executed/$$(basename $$nb) -p profile $(PROFILE) \
	    $(if $(SCHEDULER),-p scheduler $(SCHEDULER)) || exit 1; \
	  ICL_PROGRESS_LOG=$(abspath $(TREE))/build.log \
	  $(BIN)/python -m icl_lib.status --line $(TREE)/executed/$$(basename $$nb) $(TREE)/results; \
	done
	echo $(PROFILE) > $(TREE)/executed/PROFILE
	$(MAKE) plan PROFILE=$(PROFILE)
	$(BIN)/python -m icl_lib.status $(TREE)/executed $(TREE)/results/status.md $(TREE)/build.log $(TREE)/train.log
	$(BIN)/python -m icl_lib.thresholds $(TREE)/results/thresholds.md $(TREE)/results
	$(BIN)/python -m icl_lib.expected $(TREE)/results --profile $(PROFILE)

book: setup
	$(MAKE) train PROFILE=$(PROFILE)
	$(MAKE) execute PROFILE=$(PROFILE)
	$(BIN)/jupyter-book build $(TREE) $(JB_FLAGS)

# Every run the chapters need, trained first on one single-threaded Dask worker per core (or on the
# cluster at SCHEDULER): two runs at a time beat one run on both cores (benchmarks/README.md); the
# chapters then read them from the cache.
train: setup tree
	rm -f $(TREE)/train.log
	ICL_PROGRESS_LOG=$(abspath $(TREE))/train.log \
	  $(BIN)/python -m icl_lib.sweep train --profile $(PROFILE) --scheduler $(or $(SCHEDULER),local)

# The cost plans of the book and paper profiles (every run, cached or not, estimated CPU-hours),
# shown on the book's rerun page.
plan: setup tree
	mkdir -p $(TREE)/results
	$(BIN)/python -m icl_lib.sweep plan --profile book --markdown $(TREE)/results/plan_book.md >/dev/null
	$(BIN)/python -m icl_lib.sweep plan --profile paper --markdown $(TREE)/results/plan_paper.md >/dev/null

# The paper profile: every run trained first (on the cluster at SCHEDULER, else here), then the
# chapters executed against that cache and built into _build/paper/, beside the book profile.
paper: setup
	$(BIN)/python -m icl_lib.sweep plan --profile paper
	$(MAKE) book PROFILE=paper

test: setup
	$(BIN)/python -m tests.ensure_chromium
	$(MAKE) execute PROFILE=smoke
	$(BIN)/jupyter-book build _build/smoke $(JB_FLAGS)
	BOOK_HTML=_build/smoke/_build/html $(BIN)/pytest tests _build/smoke/executed --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider \
	  -n auto --maxprocesses 4 --dist loadscope

bench: setup
	$(BIN)/python benchmarks/throughput.py
	$(BIN)/python benchmarks/numerics.py
	$(BIN)/python benchmarks/concurrency.py
	$(BIN)/python benchmarks/rates.py

lint: setup
	$(BIN)/ruff check icl_lib tests notebooks benchmarks

clean:
	rm -rf _build executed results .cache book/_extra
