# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-slow lint bench migrate clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test,bench]"
	touch $@

migrate: $(VENV)/.installed
	$(PY) -m service migrate

run: migrate
	@echo ""
	@echo "  Service:            http://$(HOST):$(PORT)/healthz"
	@echo "  Preference centre:  http://$(HOST):$(PORT)/p   (recipients' own links are /p/<token>)"
	@echo "  API docs:           http://$(HOST):$(PORT)/schema  (OpenAPI: /schema/openapi.json)"
	@echo "  A fresh admin API key (use as 'Authorization: Bearer <key>'):"
	@$(PY) -m service api-key create --name "make-run" --scopes admin | tail -n 1 | sed 's/^/    /'
	@echo ""
	$(PY) -m service serve --host $(HOST) --port $(PORT)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check service tests bench

test: $(VENV)/.installed
	$(VENV)/bin/ruff check service tests bench
	$(PY) tests/setup_browser.py
	$(PY) -m pytest -p no:cacheprovider -ra

test-slow: $(VENV)/.installed
	$(PY) -m pytest -p no:cacheprovider -ra -m slow

bench: $(VENV)/.installed
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
	$(PY) -m bench

clean:
	rm -rf $(VENV) data/*.db data/*.db-wal data/*.db-shm
