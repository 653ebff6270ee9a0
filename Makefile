# Every target installs what is missing first (scripts/setup.sh), so each works on a fresh
# machine that has Python 3.11 and Java 17.
.PHONY: help setup demo test lint serve-dagster serve stop serve-status serve-api

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

setup:  ## install the Python environment, the JDBC driver and start PostgreSQL
	@scripts/setup.sh

demo: setup  ## run the main job end to end on demo data and print the KPIs per site
	PATH="$(CURDIR)/.venv/bin:$$PATH" .venv/bin/deploy-manager demo

test: setup  ## run the test suite against real PostgreSQL, Spark and Ansible
	PATH="$(CURDIR)/.venv/bin:$$PATH" .venv/bin/pytest

lint:  ## ruff lint and format check
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

serve-dagster: setup  ## run `dagster dev` (webserver and daemon) in the foreground on the platform's instance
	@scripts/serve.sh dev

serve-api: setup  ## serve the REST API on DM_API_HOST:DM_API_PORT (default 127.0.0.1:8000)
	.venv/bin/deploy-manager serve-api

serve: setup  ## start the Dagster webserver, the daemon and the API in the background (scripts/serve.sh)
	@scripts/serve.sh start

stop:  ## stop what `make serve` started
	@scripts/serve.sh stop

serve-status:  ## show whether the served processes are running
	@scripts/serve.sh status
