# Monostack: `make up` starts the cloud, `make test` runs the tests (both set up first).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?=
UP_ARGS := $(if $(DATA_DIR),--data-dir $(DATA_DIR),) $(if $(BIND),--bind $(BIND),)

.PHONY: install up test test-fast test-dbs conformance conformance-identity bench bench-image guest-image clean

# Idempotent: system packages when missing, the virtualenv, the package.
install: $(BIN)/monostack
$(BIN)/monostack: pyproject.toml
	scripts/install-system-packages.sh
	scripts/install-guest-build-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

up: install
	$(BIN)/monostack up $(UP_ARGS)

# Every suite CI runs: unit, end-to-end and QEMU guest tests on SQLite, the
# identity and image tests again on PostgreSQL and MariaDB, the bus on RabbitMQ.
test: install
	scripts/test-services.sh
	$(BIN)/pytest -q
	MONOSTACK_TEST_DB=postgresql $(BIN)/pytest -q -m "not qemu" tests/identity tests/image tests/e2e/test_cli_image.py
	MONOSTACK_TEST_DB=mysql $(BIN)/pytest -q -m "not qemu" tests/identity tests/image tests/e2e/test_cli_image.py

test-fast: install
	$(BIN)/pytest -q -x --ignore=tests/e2e

# Tempest (slow, not part of `make test`): the interop identity tests, or
# the whole tempest.api.identity directory.
conformance: install
	conformance/run.sh $(CONFORMANCE_ARGS)

conformance-identity: install
	conformance/run.sh --include conformance/identity-all.txt $(CONFORMANCE_ARGS)

# Benchmarks against the reference implementations from PyPI (slow).
bench: install
	$(BIN)/python benchmarks/identity_tokens.py $(BENCH_ARGS)

# Image upload/download throughput (1 GiB) against the raw speed of the same disk.
bench-image: install
	$(BIN)/python benchmarks/image_throughput.py $(BENCH_ARGS)

# The guest image (Debian kernel, busybox, dropbear: a BIOS-bootable qcow2 like
# CirrOS), rebuilt into GUEST_CACHE (default ~/.cache/monostack/guest/).
guest-image: install
	scripts/install-guest-build-deps.sh
	$(BIN)/python -m monostack.image.guest.build --force $(if $(GUEST_CACHE),--cache-dir $(GUEST_CACHE),)

clean:
	rm -rf $(VENV) .venv-tempest .venv-keystone .pytest_cache
