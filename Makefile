# Developer entry points. Each target is a thin wrapper over scripts/ (which work without
# make: a fresh machine may not have it; scripts/setup.sh installs it).
#   make up      set up the machine and start a single-node cluster (kubelite up)
#   make test    set up the machine and run the whole suite (what CI runs); ARGS=... to pytest
#   make setup   packages, .venv, dockerd, test images (idempotent)
#   make image   (re)build the local test images
#   make bench   run every benchmark in bench/
#   make lint    ruff + import contracts (lint-imports)

VENV := .venv
ARGS ?=

.PHONY: up test setup image bench lint

up:
	bash scripts/up.sh $(ARGS)

test:
	bash scripts/test.sh $(ARGS)

setup:
	bash scripts/setup.sh

image:
	bash scripts/start-dockerd.sh
	KUBELITE_REBUILD_IMAGES=1 bash scripts/build-test-image.sh

bench: setup
	@set -e; found=0; for f in bench/*.py; do \
		[ -e "$$f" ] || continue; case "$$(basename "$$f")" in _*) continue;; esac; \
		found=1; echo "== $$f"; $(VENV)/bin/python "$$f"; \
	done; [ "$$found" = 1 ] || echo "bench: no benchmarks in bench/ yet"

lint: setup
	@# ruff is not a declared dependency (yet): install it into the venv on first use.
	@[ -x $(VENV)/bin/ruff ] || $(VENV)/bin/python -m pip install -q ruff
	$(VENV)/bin/ruff check kubelite tests
	$(VENV)/bin/lint-imports
