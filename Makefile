# make install: .venv with the package (editable) and its test tools
# make report:  run the notebook series under PROFILE (default quick) into runs/<profile>/, then render its
#               HTML report: runs/<profile>/report/index.html. The committed reference run's trainings are
#               reused where the data and settings are theirs; RETRAIN=1 trains every model here.
# make test:    every test, the smoke series on the real data on TensorFlow (runs/smoke) and on Keras' JAX
#               backend (runs/smoke-jax) among them, then nbval over both series' executed notebooks
# make unit:    the tests that execute no notebook
# make lab:     JupyterLab on the notebooks, with the project's kernel (.venv)

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PROFILE ?= quick
# pytest-xdist workers; the tests of one xdist_group (a smoke series and what reads it) run on one worker
JOBS ?= 2
XDIST := -n $(JOBS) --dist loadgroup

.PHONY: install report test unit lab nbval benchmark clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[report,test,jax]'
	touch $@

report: install
	$(VENV)/bin/fer-report run --profile $(PROFILE) $(if $(RETRAIN),--retrain)
	$(VENV)/bin/fer-report render --profile $(PROFILE)

test: install
	rm -rf runs/smoke runs/smoke-jax
	$(PY) -m pytest $(XDIST) tests
	$(MAKE) nbval

unit: install
	$(PY) -m pytest $(XDIST) -m "not notebooks" tests

lab: install
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

# nbval re-executes the smoke series' executed notebooks, each on the backend that ran it (conftest.py), in one session
SMOKE_RUNS := runs/smoke-jax runs/smoke
nbval:
	@dirs="$(foreach r,$(SMOKE_RUNS),$(if $(wildcard $(r)/notebooks/*.ipynb),$(r)/notebooks))"; \
	if [ -n "$$dirs" ]; then \
	  $(PY) -m pytest --nbval $$dirs --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
	    -p no:cacheprovider -n $(JOBS) --dist loadscope; \
	else \
	  echo "nbval skipped: no executed smoke notebooks (no FER2013 data found; see data/README.md)"; \
	fi

benchmark: install
	$(PY) benchmarks/load_data.py

clean:
	rm -rf runs/smoke runs/smoke-jax .pytest_cache
