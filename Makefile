# Heshi — the two commands: `make run` and `make test`. Both set up what they need.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
# Every Python package comes from a lock file with its hashes (`make lock` regenerates them):
# pip and setuptools first, then what `make run` needs, or that plus the test tools.
BUILD_LOCK := requirements-build.lock
RUN_LOCK := requirements.lock
TEST_LOCK := requirements-test.lock
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
# The lock tool: only `make lock` installs it, `make run` and `make test` never need it.
LOCK_TOOL := uv==0.13.8
# Browser libraries come from the npm registry through package-lock.json, never a CDN.
NODE_STAMP := node_modules/.installed
# Debian packages the server needs: ffmpeg makes the composite download of a recording;
# WeasyPrint lays out the agreement and minutes PDFs with Pango, in CJK fonts (without them
# Chinese prints as empty boxes).
RUN_DEBS := ffmpeg libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk
# Debian packages the test suite drives as well: a real browser, Redis and PostgreSQL servers
# (tests start throwaway ones on free loopback ports when none is running), and iproute2 for
# the network namespaces that separate browsers in the ICE-restart test.
TEST_DEBS := $(RUN_DEBS) chromium redis-server postgresql iproute2
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint venv lock lock-upgrade system-deps migrate demo bench clean messages

run: $(RUN_STAMP) $(NODE_STAMP)
	@$(MAKE) --no-print-directory system-deps DEBS="$(RUN_DEBS)"
	$(VENV)/bin/heshi migrate
	$(VENV)/bin/heshi serve

venv: $(TEST_STAMP)

# pip installs exactly the lock: each file must match one of its hashes, nothing else is
# resolved (--no-deps), nothing is built from source. Heshi itself is then built with the
# locked setuptools (no build isolation, so nothing unlocked is fetched), and pip check fails
# if pyproject.toml names a dependency the lock lacks. A changed lock reinstalls.
define install-lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes --no-deps --only-binary :all: -r $(BUILD_LOCK)
	$(PY) -m pip install --quiet --require-hashes --no-deps --only-binary :all: -r $(1)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e . --config-settings editable_mode=compat
	$(PY) -m pip check
	@touch $@
endef

$(RUN_STAMP): pyproject.toml $(BUILD_LOCK) $(RUN_LOCK)
	$(call install-lock,$(RUN_LOCK))

$(TEST_STAMP): pyproject.toml $(BUILD_LOCK) $(TEST_LOCK)
	$(call install-lock,$(TEST_LOCK))

# After editing pyproject.toml's dependencies: rewrite the three lock files (tools/lock.py).
# Versions already locked stay unless pyproject.toml asks otherwise; lock-upgrade moves every
# transitive package to its newest release.
lock:
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(LOCK_TOOL)
	$(PY) tools/lock.py --uv $(VENV)/bin/uv $(LOCK_ARGS)

lock-upgrade:
	@$(MAKE) --no-print-directory lock LOCK_ARGS=--upgrade

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

# pytest exits 5 when it ran no test, which fails here and so CI; then node's own test runner.
test: $(TEST_STAMP) $(NODE_STAMP) system-deps lint
	$(PY) -m pytest
	node --test tests/js/

# Lint, format and types: a new error fails `make test`, and so CI (config in pyproject.toml).
lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Benchmarks print a comparison and write bench/results/*.json. Run on a quiet machine.
bench: $(TEST_STAMP) $(NODE_STAMP) system-deps
	$(PY) -m bench.signaling
	$(PY) -m bench.room_join
	$(PY) -m bench.recording

demo: $(RUN_STAMP)
	$(VENV)/bin/heshi migrate
	$(VENV)/bin/heshi demo

clean:
	rm -rf $(VENV) .pytest_cache node_modules

messages: $(RUN_STAMP)
	$(VENV)/bin/pybabel extract -F babel.cfg -k N_ -k t --no-location --sort-output -o web/locale/messages.pot .
	for l in zh en; do \
	  if [ -f web/locale/$$l/LC_MESSAGES/messages.po ]; then \
	    $(VENV)/bin/pybabel update --no-fuzzy-matching -i web/locale/messages.pot -d web/locale -l $$l; \
	  else $(VENV)/bin/pybabel init -i web/locale/messages.pot -d web/locale -l $$l; fi; done
