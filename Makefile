# The two commands of the README: `make demo` and `make test`. Both set everything up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint bench chaos screenshots setup system-deps clean

# Debian's redis-server: nothing else outside the venv is needed to run Heavylift (libvips and
# ffmpeg come from the pyvips-binary and imageio-ffmpeg wheels). Chromium is for the browser
# tests only (browser-deps, which make test adds).
system-deps:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server (Debian package)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server >/dev/null; }

# Debian's chromium for the browser tests (tests/browser): Playwright drives it through
# executable_path, so `playwright install` (and its download) is never needed.
.PHONY: browser-deps
browser-deps:
	@[ -x /usr/bin/chromium ] || { \
	  echo "installing chromium (Debian package)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps --no-build-isolation -e . || $(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

setup: system-deps $(STAMP)

demo: setup
	$(BIN)/heavylift demo $(if $(DEMO_EXIT),--exit,)

# What CI holds the code to before a single test runs: lint, formatting, types (code and
# tests) and the layers (the import contracts in pyproject.toml).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: setup browser-deps lint
	$(BIN)/pytest

bench: setup
	$(BIN)/python -m bench

# The README's dashboard screenshots, taken by the browser tests.
screenshots: setup browser-deps
	SCREENSHOTS_DIR=docs/screenshots $(BIN)/pytest -q -m browser

# 1,000 jobs while workers are SIGKILLed, Redis restarts and S3 goes away (bench/chaos.py).
chaos: setup
	$(BIN)/python -m bench.chaos

clean:
	rm -rf $(VENV) .heavylift .pytest_cache
