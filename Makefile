# Two commands on a fresh clone: `make demo` and `make test`. Both install what they need.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test format clean schema package bench-import

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[local,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/sso-sync demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .sso-sync .pytest_cache build

schema: $(STAMP)
	$(BIN)/python -c 'import json; from sync.rules import rules_json_schema; print(json.dumps(rules_json_schema(), indent=2))' > mappings/rules.schema.json

package: $(STAMP)
	$(BIN)/python deploy/package.py

bench-import: $(STAMP)
	$(BIN)/python tests/bench/cold_import.py
