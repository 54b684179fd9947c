# orchard: two commands set everything up on a fresh machine.
#   make demo   create .venv, install, run the main job on the embedded sample data
#   make test   same install, then the test suite
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# test processes for make test (pytest-xdist; each test file stays in one process)
TEST_WORKERS ?= 2

.PHONY: demo test install clean

$(PY):
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (orchard needs Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) cli.py data synth
	$(PY) cli.py demo

test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

clean:
	rm -rf runs reports/*/ .cache data/fruits360-synthetic data/cifar-synthetic
