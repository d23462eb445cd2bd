# The shop platform. Quick start: `make run` (everything locally) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)
export XDG_RUNTIME_DIR ?= $(abspath .data)/xdg-runtime

SERVICES := catalog pricing inventory cart checkout order fraud notifications customers sandbox gateway
TOOLS := $(wildcard libs/deploycheck libs/shopctl)
PACKAGES := libs/protos libs/kit libs/payments libs/devstack $(TOOLS) $(foreach s,$(SERVICES),$(wildcard services/$(s)))
PYPROJECTS := $(foreach p,$(PACKAGES),$(p)/pyproject.toml)
STAMP := $(VENV)/.installed

.PHONY: help install run test lint proto proto-breaking proto-baseline bench chaos soak fuzz fuzz-http load load-knee images images-check clean distclean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | column -t -s$$'\t'

$(STAMP): requirements/constraints.txt requirements/dev.txt $(PYPROJECTS)
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install --python $(BIN)/python -c requirements/constraints.txt \
		-r requirements/dev.txt $(foreach p,$(PACKAGES),-e $(p))
	@mkdir -p .data && install -d -m 0700 $(XDG_RUNTIME_DIR)
	@touch $@

# checkov pins dependencies that conflict with the project's set: it gets a virtualenv of its own.
CHECKOV_VENV := .venv-tools/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
$(CHECKOV_STAMP): requirements/checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(CHECKOV_VENV)/bin/uv pip install --python $(CHECKOV_VENV)/bin/python -r requirements/checkov.txt
	@touch $@

install: $(STAMP) $(CHECKOV_STAMP)  ## create .venv (and the checkov tool venv) and install every package for development

run: $(STAMP)  ## start the whole platform locally (Ctrl-C stops it); PAYMENTS=stripe: Stripe adapter + local fake Stripe; ARGS=--help
	$(BIN)/shop-dev run $(if $(PAYMENTS),--payments $(PAYMENTS)) $(ARGS)

test: $(STAMP) $(CHECKOV_STAMP)  ## every package's tests (own pytest process each) against real PostgreSQL and NATS
	$(BIN)/shop-dev test

lint: $(STAMP)  ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@# One mypy run per package: test folders each have their own conftest module.
	set -e; for pkg in libs/kit libs/payments libs/devstack $(TOOLS) $(foreach s,$(SERVICES),$(wildcard services/$(s))); do \
		$(BIN)/mypy $$pkg/src $$(test -d $$pkg/tests && echo $$pkg/tests); done
	$(BIN)/mypy protos/*.py protos/tests
	$(BIN)/mypy tests
	$(BIN)/mypy charts/shop/tests
	$(BIN)/mypy k8s/tests
	$(if $(wildcard loadtests/*.py),$(BIN)/mypy loadtests)

proto: $(STAMP)  ## regenerate libs/protos from protos/
	$(BIN)/python protos/generate.py

proto-breaking: $(STAMP)  ## compare protos/ with the committed descriptor baseline (buf-style FILE rules)
	$(BIN)/python protos/breaking.py

proto-baseline: $(STAMP)  ## accept the current protos as the new compatibility baseline
	$(BIN)/python protos/breaking.py --update

ARGS ?=
bench: $(STAMP)  ## the benchmark suite B1..B8 (< 10 min); options: make bench ARGS="--only B1,B5 --json" or ARGS=--smoke
	@# B4 drives HTTP with wrk (Debian package): installed here when missing and root, else a Python client is used.
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		{ apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }; }; } || \
		echo "wrk is not installed (apt-get install wrk): B4 falls back to a Python client"
	$(BIN)/shop-dev bench $(ARGS)

chaos: $(STAMP)  ## checkouts while random processes are SIGKILLed, then the invariants; ARGS=--short, ARGS="--checkouts 2000 --kill-interval 4"
	$(BIN)/shop-dev chaos $(ARGS)

soak: $(STAMP)  ## 30 min at 70 % of the measured maximum: memory, fds, connections, p99 of every process; ARGS="--minutes 10", ARGS=--short
	$(BIN)/shop-dev soak $(ARGS)

FUZZ_EXAMPLES ?= 200
fuzz: $(STAMP)  ## every gRPC method of every service with generated requests on a launched stack (FUZZ_EXAMPLES per method)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -q -s -p no:cacheprovider tests/system/test_system_grpc_fuzz.py

FUZZ_HTTP_EXAMPLES ?= 100
FUZZ_HTTP_SCENARIOS ?= 100
fuzz-http: $(STAMP)  ## schemathesis against the gateway (3 kinds of caller) and the payment sandbox on a launched stack; prints the answers per operation
	FUZZ_HTTP_EXAMPLES=$(FUZZ_HTTP_EXAMPLES) FUZZ_HTTP_SCENARIOS=$(FUZZ_HTTP_SCENARIOS) FUZZ_HTTP_TIMEOUT=3600 \
		$(BIN)/python -m pytest -q -s -p no:cacheprovider tests/system/test_system_http_fuzz.py

LOAD_TIME ?= 60s
LOAD_USERS ?= 20
LOAD_SPAWN_RATE ?= 5
LOAD_TAGS ?=
LOAD_STAMP := $(shell date +%Y%m%d-%H%M%S)
LOAD_REPORT_DIR ?= .data/load/$(LOAD_STAMP)
# The sandbox of `make run` serves HTTPS with the stack's CA (LOAD_SANDBOX_CA= for an http sandbox).
LOAD_SANDBOX_CA ?= $(if $(SHOP_SANDBOX_CA_FILE),$(SHOP_SANDBOX_CA_FILE),.data/pki/ca.pem)
LOCUST = SHOP_SANDBOX_CA_FILE=$(LOAD_SANDBOX_CA) $(BIN)/locust --config loadtests/locust.conf $(if $(LOAD_TAGS),--tags $(LOAD_TAGS)) \
	--csv $(LOAD_REPORT_DIR)/load --html $(LOAD_REPORT_DIR)/report.html
load: $(STAMP)  ## locust against a running `make run` (LOAD_TIME, LOAD_USERS, LOAD_TAGS); reports in LOAD_REPORT_DIR
	@mkdir -p $(LOAD_REPORT_DIR)
	$(LOCUST) -t $(LOAD_TIME) -u $(LOAD_USERS) -r $(LOAD_SPAWN_RATE)
	@echo "reports: $(LOAD_REPORT_DIR)/report.html and $(LOAD_REPORT_DIR)/load_*.csv"

load-knee: $(STAMP)  ## step load against a running `make run` until p99 passes 1 s (SHOP_KNEE_* settings)
	@mkdir -p $(LOAD_REPORT_DIR)
	SHOP_KNEE_CSV=$(LOAD_REPORT_DIR)/knee.csv $(LOCUST) -f loadtests/knee.py -t 30m  # the shape ends the run
	@echo "reports: $(LOAD_REPORT_DIR)/knee.csv, report.html and load_*.csv"

IMAGES ?=
images: $(STAMP)  ## build every image with podman (IMAGES="catalog gateway" for some); sets podman up when missing
	$(BIN)/python -m shop_deploycheck.containers build $(IMAGES)

images-check: $(STAMP)  ## run each chart Deployment's container (read-only, non-root) until it answers SERVING
	$(BIN)/python -m shop_deploycheck.containers check $(IMAGES)

clean:  ## wipe local data (.data)
	rm -rf .data

distclean: clean  ## also remove the virtual environment
	rm -rf $(VENV) .venv-tools
