# The two commands a new user runs: `make demo` and `make test`. Everything they need is set up here.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# The demo needs the package alone; the tests also need the dev tools (`.[dev]`, ~280 MB more).
DEMO_STAMP := $(VENV)/.installed-demo-stamp

.PHONY: demo test lint format system services bench bench-peers bench-probes bench-scale bench-ingest bench-detection bench-ui bench-status bench-pings bench-cli clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP) $(DEMO_STAMP)

$(DEMO_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $(DEMO_STAMP)

## demo: set up and run opsbook against the bundled sample service (SQLite store)
demo: $(DEMO_STAMP)
	$(VENV)/bin/opsbook demo

## system: Debian packages the tests need (promtool from `prometheus`)
system:
	@bash scripts/ensure-system.sh

## services: start PostgreSQL and Redis if they are down
services:
	@bash scripts/ensure-services.sh

## lint: ruff format check, ruff lint, strict mypy on src/
lint: $(STAMP)
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

## test: everything above, then the whole test suite
test: $(STAMP) system services lint
	@$(VENV)/bin/pytest -n auto -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest ran no tests: that is a failure" >&2; exit 1; fi; exit $$rc

format: $(STAMP)
	$(VENV)/bin/ruff format src tests bench
	$(VENV)/bin/ruff check --fix src tests bench

## bench: every benchmark; each runs real peers in the same run and prints ratios (not run in CI),
## then one table of every headline row (bench/summary.py)
BENCH_SUMMARY := $(CURDIR)/.bench-summary.jsonl
bench: $(STAMP)
	@rm -f $(BENCH_SUMMARY)
	OPSBOOK_BENCH_SUMMARY=$(BENCH_SUMMARY) $(MAKE) --no-print-directory bench-probes bench-scale bench-ingest bench-detection bench-ui bench-status bench-pings bench-cli
	$(PY) bench/summary.py $(BENCH_SUMMARY)

bench-peers:
	@bash scripts/ensure-bench.sh

bench-probes: $(STAMP) bench-peers
	$(PY) bench/probes.py

bench-scale: $(STAMP) bench-peers
	$(PY) bench/scale.py
	$(PY) bench/scale.py --checks 1000 --seconds 30

# Alertmanager comes from `make system` (the alerting tests run it too).
bench-ingest: $(STAMP) system bench-peers
	$(PY) bench/ingest.py --rate 0 --connections 32 --rounds 3

bench-detection: $(STAMP)
	$(PY) bench/detection.py

# The web UI's overview with 1,000 checks under 20 concurrent clients (issue 12).
bench-ui: $(STAMP) bench-peers
	$(PY) bench/ui_overview.py

# Heartbeat pings per second on one core, each durable before its 200 (issue 15).
bench-pings: $(STAMP)
	$(PY) bench/pings.py

# The public status page with 200 components under 50 clients, beside nginx serving its export (issue 14).
bench-status: $(STAMP) bench-peers
	$(PY) bench/status_page.py

# CLI start to answer, opsbook's commands beside amtool's (issue 15).
bench-cli: $(STAMP) system
	$(PY) bench/cli_start.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache opsbook.db* .bench-summary.jsonl
