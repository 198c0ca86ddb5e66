# Heshi — the two commands: `make run` and `make test`. Both set up what they need.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Browser libraries come from the npm registry through package-lock.json, never a CDN.
NODE_STAMP := node_modules/.installed
# Debian packages the server needs: ffmpeg makes the composite download of a recording.
RUN_DEBS := ffmpeg
# Debian packages the test suite drives as well: a real browser, CJK fonts (Chinese renders
# as empty boxes without them), Redis and PostgreSQL servers (tests start throwaway ones on
# free loopback ports when none is running), and iproute2 for the network namespaces that
# separate browsers in the ICE-restart test.
TEST_DEBS := $(RUN_DEBS) chromium fonts-noto-cjk redis-server postgresql iproute2
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint venv system-deps migrate demo bench clean messages

run: $(STAMP) $(NODE_STAMP)
	@$(MAKE) --no-print-directory system-deps DEBS="$(RUN_DEBS)"
	$(VENV)/bin/heshi migrate
	$(VENV)/bin/heshi serve

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]' --config-settings editable_mode=compat
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm; }
	npm ci --no-audit --no-fund
	@touch $@

DEBS ?= $(TEST_DEBS)
system-deps:
	@missing=""; for p in $(DEBS); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

test: $(STAMP) $(NODE_STAMP) system-deps lint
	$(PY) -m pytest

# Lint, format and types: a new error fails `make test`, and so CI (config in pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Benchmarks print a comparison and write bench/results/*.json. Run on a quiet machine.
bench: $(STAMP) $(NODE_STAMP) system-deps
	$(PY) -m bench.signaling
	$(PY) -m bench.room_join
	$(PY) -m bench.recording

demo: $(STAMP)
	$(VENV)/bin/heshi migrate
	$(VENV)/bin/heshi demo

clean:
	rm -rf $(VENV) .pytest_cache node_modules

messages: $(STAMP)
	$(VENV)/bin/pybabel extract -F babel.cfg -k N_ -k t --no-location --sort-output -o web/locale/messages.pot .
	for l in zh en; do \
	  if [ -f web/locale/$$l/LC_MESSAGES/messages.po ]; then \
	    $(VENV)/bin/pybabel update --no-fuzzy-matching -i web/locale/messages.pot -d web/locale -l $$l; \
	  else $(VENV)/bin/pybabel init -i web/locale/messages.pot -d web/locale -l $$l; fi; done
