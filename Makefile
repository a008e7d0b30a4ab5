# Monostack: `make up` starts the cloud, `make test` runs the tests (both set up first).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?=
UP_ARGS := $(if $(DATA_DIR),--data-dir $(DATA_DIR),) $(if $(BIND),--bind $(BIND),)

.PHONY: install up test test-slow test-fast conformance conformance-identity conformance-compute conformance-compute-all bench bench-image bench-compute bench-compute-scale bench-object bench-network bench-volume guest-image clean

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

# Every suite CI runs: unit, end-to-end and QEMU guest tests on SQLite (all but
# the `slow` ones, see test-slow), then the database-heavy suites (identity,
# image, placement, compute, network, volume) again on PostgreSQL and MariaDB at
# once (not the guest boots and host data plane tests: they do not depend on the
# database), the bus on RabbitMQ.
DB_SUITES := tests/identity tests/image tests/e2e/test_cli_image.py tests/placement tests/compute tests/network tests/volume
test: install
	scripts/install-system-packages.sh --test
	scripts/test-services.sh
	$(BIN)/pytest -q -m "not slow"
	scripts/test-databases.sh $(BIN)/pytest $(DB_SUITES)

# The slow suites, not part of `make test` (CI's time): a 2 GiB static large object
# through the swift CLI, and conformance/run.sh end to end against a fake cloud.
test-slow: install
	scripts/install-system-packages.sh --test
	scripts/test-services.sh
	$(BIN)/pytest -q -m slow

test-fast: install
	$(BIN)/pytest -q -x --ignore=tests/e2e

# Tempest (slow, not part of `make test`): the interop identity tests, or
# the whole tempest.api.identity directory.
conformance: install
	conformance/run.sh $(CONFORMANCE_ARGS)

conformance-identity: install
	conformance/run.sh --include conformance/identity-all.txt $(CONFORMANCE_ARGS)

# The interop compute tests against a cloud with Compute (real QEMU guests;
# MONOSTACK_COMPUTE__DRIVER=fake for the API alone). The guest image comes
# from GUEST_CACHE (built once by `make guest-image`).
conformance-compute: install
	MONOSTACK_DEFAULT__SERVICES=identity,image,placement,compute \
	MONOSTACK_GUEST_CACHE=$(or $(GUEST_CACHE),$(HOME)/.cache/monostack/guest) \
	conformance/run.sh --include conformance/compute-interop.txt $(CONFORMANCE_ARGS)

# The whole tempest.api.compute directory against the default services (Networking
# and Block Storage too): real guests, validated over floating IPs and SSH (~25 min).
conformance-compute-all: install
	conformance/run.sh --regex '^tempest\.api\.compute\.' $(CONFORMANCE_ARGS)

# Benchmarks against the reference implementations from PyPI (slow).
bench: install
	$(BIN)/python benchmarks/identity_tokens.py $(BENCH_ARGS)

# Image upload/download throughput (1 GiB) against the raw speed of the same disk.
bench-image: install
	$(BIN)/python benchmarks/image_throughput.py $(BENCH_ARGS)

# Server boot through the API (QEMU driver) against plain QEMU to running and to the login prompt.
bench-compute: install
	$(BIN)/python benchmarks/compute_boot.py --json benchmarks/results-compute-boot.json $(if $(GUEST_CACHE),--guest-cache $(GUEST_CACHE),) $(BENCH_ARGS)

# 1,000 servers through the API (fake driver) and the scheduler over 1,000 hosts.
bench-compute-scale: install
	$(BIN)/python benchmarks/compute_scale.py --json benchmarks/results-compute-scale.json $(BENCH_ARGS)

# Object Storage against real Swift from PyPI (.venv-swift): 4 KiB ops/s, 1 GiB PUT/GET, the disk itself.
bench-object: install
	$(BIN)/python benchmarks/object_storage.py --json benchmarks/results-object-storage.json $(BENCH_ARGS)

# Networking: 1,000 ports through the API (agent off), then, as root, the data plane library
# alone (its own scope): time to a first DHCP lease, guest-to-guest TCP against a plain veth pair.
bench-network: install
	$(BIN)/python benchmarks/network_ports.py --json benchmarks/results-network-ports.json $(BENCH_ARGS)
	$(BIN)/python benchmarks/network_dataplane.py --json benchmarks/results-network-dataplane.json

# Block Storage: a volume from a 1 GiB image against qemu-img convert, attach/detach on a running
# guest (QEMU driver), writes through QEMU's block layer against the disk.
bench-volume: install
	$(BIN)/python benchmarks/volume_ops.py --json benchmarks/results-volume-ops.json $(if $(GUEST_CACHE),--guest-cache $(GUEST_CACHE),) $(BENCH_ARGS)

# The guest image (Debian kernel, busybox, dropbear: a BIOS-bootable qcow2 like
# CirrOS), rebuilt into GUEST_CACHE (default ~/.cache/monostack/guest/).
guest-image: install
	scripts/install-guest-build-deps.sh
	$(BIN)/python -m monostack.image.guest.build --force $(if $(GUEST_CACHE),--cache-dir $(GUEST_CACHE),)

clean:
	rm -rf $(VENV) .venv-tempest .venv-keystone .venv-swift .pytest_cache
