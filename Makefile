# make install: .venv with the package (editable) and its test tools
# make report:  run the notebook series under PROFILE (default quick) into runs/<profile>/, then render its
#               HTML report: runs/<profile>/report/index.html. The committed reference run's trainings are
#               reused where the data and settings are theirs; RETRAIN=1 trains every model here.
# make test:    unit tests, the smoke series on the real data, nbval over the executed smoke notebooks, then
#               the smoke series and nbval again on Keras' JAX backend (runs/smoke-jax)

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PROFILE ?= quick
SMOKE := runs/smoke/notebooks

.PHONY: install report test unit nbval smoke-jax benchmark clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,jax]'
	touch $@

report: install
	$(VENV)/bin/fer-report run --profile $(PROFILE) $(if $(RETRAIN),--retrain)
	$(VENV)/bin/fer-report render --profile $(PROFILE)

test: install
	rm -rf runs/smoke runs/smoke-jax
	$(MAKE) unit
	$(MAKE) nbval
	$(MAKE) smoke-jax

unit:
	$(PY) -m pytest tests

nbval:
	@if ls $(SMOKE)/*.ipynb >/dev/null 2>&1; then \
	  $(PY) -m pytest --nbval $(SMOKE) --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider; \
	else \
	  echo "nbval skipped: no executed smoke notebooks (no FER2013 data found; see data/README.md)"; \
	fi

smoke-jax:
	@if $(PY) -c "from fer_utils.data import resolve_source; resolve_source()" 2>/dev/null; then \
	  KERAS_BACKEND=jax $(VENV)/bin/fer-report run --profile smoke --run-dir runs/smoke-jax && \
	  KERAS_BACKEND=jax $(PY) -m pytest --nbval runs/smoke-jax/notebooks --nbval-current-env \
	    --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider; \
	else \
	  echo "smoke series on JAX skipped: no FER2013 data found (see data/README.md)"; \
	fi

benchmark: install
	$(PY) benchmarks/load_data.py

clean:
	rm -rf runs/smoke runs/smoke-jax .pytest_cache
