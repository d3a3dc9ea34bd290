# retarget: `make demo` and `make test` do all the set-up on a machine with Python 3.11+ and Java 17.
SHELL := /bin/bash
.DEFAULT_GOAL := help
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := $(ROOT)/.tools
UV := $(TOOLS)/bin/uv
VENV := $(ROOT)/.venv
RUN := $(VENV)/bin
# Python caches bytecode here (the sandbox may disable it; Airflow imports are 3x slower without it).
unexport PYTHONDONTWRITEBYTECODE
export UV_PYTHON_DOWNLOADS := never
export AIRFLOW_HOME ?= $(ROOT)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(ROOT)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(ROOT)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__UNIT_TEST_MODE := False
# Metadata DB restarts (docs/SCALING.md section 4): test pooled connections before use (a restarted DB leaves
# them all dead), and let a task's Execution-API calls ride out a DB outage: a 5xx (a DB error) is retried with
# exponential backoff, 10 tries 1-30 s apart (about 1-3 min); after that Airflow's task retries take over.
export AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_PRE_PING ?= True
export AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_RECYCLE ?= 1800
export AIRFLOW__WORKERS__EXECUTION_API_RETRIES ?= 10
export AIRFLOW__WORKERS__EXECUTION_API_RETRY_WAIT_MIN ?= 1
export AIRFLOW__WORKERS__EXECUTION_API_RETRY_WAIT_MAX ?= 30
# One machine by default: keep Spark on loopback (a cluster deployment sets its own SPARK_LOCAL_IP).
export SPARK_LOCAL_IP ?= 127.0.0.1
export PYSPARK_PYTHON := $(RUN)/python
export PYSPARK_DRIVER_PYTHON := $(RUN)/python
# Two pytest-xdist workers on 2 cores: 613 tests in 29 min against ~35 min in one process (2026-11-30); the
# real-scheduler and Spark tests mostly wait on child processes, so two of them overlap well. --dist loadscope
# sends each module to one worker, so a module-scoped fixture (an Airflow deployment, a dag.test() reference, a
# simulation) is built once, not once per worker that happens to get one of its tests.
TEST_WORKERS ?= 2

.PHONY: help java install check lint typecheck test demo ui bench clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

java: ## stop at once, with instructions, if Java 17+ is missing (Spark 4 needs it)
	@$(ROOT)/scripts/check_java.sh

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed (found " + sys.version.split()[0] + ")")'
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	@echo "install: the locked dependencies into $(VENV) (a first install downloads ~230 packages: a few minutes)"
	@$(UV) sync --locked --python $(PYTHON) --quiet
	@touch $@

install: java $(VENV)/.synced ## install uv, the locked dependencies (Airflow, PySpark, ...) and this package

check: install ## ruff (lint + format check) and mypy
	$(RUN)/ruff check .
	$(RUN)/ruff format --check .
	$(RUN)/mypy

test: install ## run the whole test suite (TEST_WORKERS=2 pytest-xdist workers; TEST_WORKERS=0: one process)
	$(RUN)/pytest -n $(TEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

demo: install ## generate a sample day of pixel logs and run the pipeline end to end through Airflow
	$(RUN)/python $(ROOT)/scripts/demo.py

ui: install ## start Airflow's UI on 127.0.0.1:8080: our DAGs and downloads page (after make demo: its runs)
	$(RUN)/python $(ROOT)/scripts/ui.py $(UI_ARGS)

bench: install ## benchmark every stage against its reference (BENCH_ARGS="--events 1000000")
	$(RUN)/retarget bench $(BENCH_ARGS)

clean: ## remove generated data and Airflow state (keeps the virtualenv)
	rm -rf $(ROOT)/data $(ROOT)/.airflow
