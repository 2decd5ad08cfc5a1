# make install: .venv with the package (editable) and its test tools
# make report:  run the notebook series under PROFILE (default quick) into runs/<profile>/, then render its
#               HTML report: runs/<profile>/report/index.html
# make test:    unit tests, the smoke series on the real data, then nbval over the executed smoke notebooks

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PROFILE ?= quick
SMOKE := runs/smoke/notebooks

.PHONY: install report test unit nbval benchmark clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

report: install
	$(VENV)/bin/fer-report run --profile $(PROFILE)
	$(VENV)/bin/fer-report render --profile $(PROFILE)

test: install
	rm -rf runs/smoke
	$(MAKE) unit
	$(MAKE) nbval

unit:
	$(PY) -m pytest tests

nbval:
	@if ls $(SMOKE)/*.ipynb >/dev/null 2>&1; then \
	  $(PY) -m pytest --nbval $(SMOKE) --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider; \
	else \
	  echo "nbval skipped: no executed smoke notebooks (no FER2013 data found; see data/README.md)"; \
	fi

benchmark: install
	$(PY) benchmarks/load_data.py

clean:
	rm -rf runs/smoke .pytest_cache
