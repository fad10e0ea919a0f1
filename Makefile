# The README's two commands: `make repro` and `make test`. Both create .venv and install the pinned stack first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
PROFILE ?=
PYTEST_ARGS ?= -n 2 --dist loadfile

export PATH := $(abspath $(BIN)):$(PATH)
export MLFLOW_DISABLE_TELEMETRY := true

.PHONY: install system-deps repro test bench ui clean

install: $(VENV)/.installed

# Debian packages the integration tests drive (`reprozoo stack` and the browser test): PostgreSQL and Chromium.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
system-deps:
	@if ! command -v chromium >/dev/null || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium postgresql >/dev/null; \
	fi

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

repro: install
ifeq ($(PROFILE),)
	$(BIN)/dvc repro
else
	$(BIN)/dvc exp run -S profile=$(PROFILE)
endif

test: install system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python benchmarks/pnp.py

ui: install
	$(BIN)/reprozoo ui

clean:
	rm -rf data models reports mlruns .dvc/cache .dvc/tmp
