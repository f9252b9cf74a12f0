# Two commands on a fresh machine:  make run  (set up, then train the study's network)  and  make test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= ../shared/data/vaccine
CONFIG ?= seed-prelu

.PHONY: setup run test bench quality clean docs docs-build

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,all]'
	touch $@

setup: $(VENV)/.installed

# The main job: fetch the vaccine data (from $(DATA) when it is there, else the public copy),
# train the study's PReLU network on it and print its scores.
run: setup
	$(BIN)/tweetsent data get vaccine --dest data/vaccine $(if $(wildcard $(DATA)),--from $(DATA))
	$(BIN)/tweetsent train --config $(CONFIG) --train data/vaccine/vaccine_train_set.csv \
		--val data/vaccine/vaccine_validation_set.csv

# What CI runs (.ci/run): the lint, the import layering (docs/architecture.md), the docs site, the tests.
test: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports
	$(BIN)/mkdocs build --strict --quiet --site-dir $(or $(TMPDIR),/tmp)/tweetsent-site
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python bench/bench_core.py

# Every model and preset against fastText and scikit-learn on the vaccine data (about an hour).
quality: setup
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	$(BIN)/python bench/quality.py --data $(DATA) --best-seeds 0,1,2

clean:
	rm -rf $(VENV) runs data .pytest_cache

# The documentation site (mkdocs.yml, docs/): serve it at http://127.0.0.1:8000, or build it into
# site/ (--strict: any warning, such as a broken link or docstring, fails the build).
docs: setup
	$(BIN)/mkdocs serve

docs-build: setup
	$(BIN)/mkdocs build --strict
