# jikimi — every set-up step lives here so that a fresh clone needs only
# `make run` or `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: run test check bench bench-quick clean chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEVSTAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev]'
	# invisible-watermark's metadata pulls torch and GUI OpenCV; the tests only
	# use its pure-NumPy dwtDct code, so install it without dependencies.
	$(BIN)/pip install --quiet --no-deps 'invisible-watermark==0.2.0'
	# face_recognition (bench.faces' peer) requires dlib, which would build from
	# source; dlib-bin (in the dev extra) is the same library as a wheel.
	$(BIN)/pip install --quiet --no-deps 'face-recognition==1.3.0'
	touch $@

run: $(STAMP)
	$(BIN)/jikimi serve

# The browser tests (tests/browser) drive Debian's chromium through Playwright;
# Playwright never downloads a browser of its own.
CHROMIUM ?= /usr/bin/chromium
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

chromium:
	@test -x $(CHROMIUM) || { \
	  echo "chromium is missing; installing it with apt-get"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
	    || { echo "error: cannot install chromium here: run 'sudo apt-get install chromium' (Debian/Ubuntu package 'chromium', giving $(CHROMIUM)) and run make test again"; exit 1; }; }
	@test -x $(CHROMIUM) || { echo "error: $(CHROMIUM) is still missing after apt-get: install the Debian package 'chromium'"; exit 1; }

test: $(DEVSTAMP) chromium
	JIKIMI_REQUIRE_BROWSER=1 $(BIN)/python -m pytest

check: $(DEVSTAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

BENCHES := bench.pdq bench.grade bench.benign bench.match bench.video bench.api bench.faces bench.bulk

bench: $(DEVSTAMP)
	bash bench/setup_vpdq.sh
	for b in $(BENCHES); do $(BIN)/python -m $$b || exit 1; done

bench-quick: $(DEVSTAMP)
	bash bench/setup_vpdq.sh
	for b in $(BENCHES); do $(BIN)/python -m $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
