# make run  — start the whole system locally (no AWS account needed)
# make test — run every test
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)
export SAM_CLI_TELEMETRY := 0

.PHONY: run test test-fast lint bench build validate deploy lock clean browser-deps

$(STAMP):
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

run: $(STAMP)
	$(PY) -m local

test: $(STAMP) browser-deps
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q tests/unit

# Debian's Chromium drives the console tests (playwright's own browser download is blocked).
browser-deps:
	@command -v chromium >/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] \
		&& (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "chromium not installed: browser tests will be skipped"; }

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	MYPYPATH=layers/core $(VENV)/bin/mypy -p openmultistack -p local -p cli
	for f in functions/*/app.py; do MYPYPATH=layers/core $(VENV)/bin/mypy $$f || exit 1; done

bench: $(STAMP)
	$(PY) -m bench

validate: $(STAMP)
	$(VENV)/bin/sam validate --lint

build: $(STAMP)
	$(VENV)/bin/sam build

deploy: build
	$(VENV)/bin/sam deploy --guided

# Refresh the pinned versions after changing pyproject.toml.
lock: $(STAMP)
	$(PY) -m pip freeze --exclude-editable | grep -v '^openmultistack' > constraints.txt

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .ruff_cache .mypy_cache
