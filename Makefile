# Two commands for a fresh machine:
#   make demo   install, then paint examples/building.jpg as The Starry Night -> out/building_starry.png
#   make test   install (with test extras and chromium), then run the whole test suite
PY ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
# make test's processes (pytest-xdist): each test file runs whole in one of them, torch on one thread each
# (tests/conftest.py), so two use both cores of a small machine. JOBS=0 runs the suite in this process.
JOBS ?= 2

.PHONY: demo test test-fast install install-test lint

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, from pip, so that no resolver pulls a multi-GB CUDA build
	$(BIN)/pip install -q torch==2.13.0

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-test: $(BIN)/python
	$(BIN)/pip install -q -e ".[test,web,video,dask,heif]"
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium) \
		|| echo "chromium not installed: browser tests will fail"

demo: install
	mkdir -p out
	$(BIN)/painterly examples/building.jpg examples/starry_night.jpg -o out/building_starry.png \
		--sheet out/building_starry_sheet.png

test: install-test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src
	$(BIN)/pytest -q -ra -n $(JOBS) --dist loadfile; rc=$$?; [ $$rc -eq 5 ] && { echo "no tests collected"; exit 1; }; exit $$rc

test-fast: install-test
	$(BIN)/pytest -q -n $(JOBS) --dist loadfile -m "not slow"

lint: install-test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src
