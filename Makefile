# Quick start:  make run   (pipeline end to end on the built-in data)
#               make test  (the whole test suite)
# Both create the virtualenv in .venv when it is missing.

VENV      ?= .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
# TensorFlow Recommenders needs Keras 2: must be set before TensorFlow is imported.
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONWARNINGS ?= ignore::DeprecationWarning

.PHONY: venv run test test-fast bench bench-methods clean

# An editable install records where the checkout was: a virtualenv copied or moved
# with it would make `wt-pipeline` (and Beam's worker processes) import the old
# checkout's code. Reinstall when wt_keras does not resolve to this checkout; -I
# keeps the current directory and PYTHONPATH out of the lookup, and find_spec
# does not import the package.
SAME_CHECKOUT := import importlib.util as u, os, sys; s = u.find_spec("wt_keras"); \
  sys.exit(0 if s and os.path.realpath(s.origin) == os.path.realpath("wt_keras/__init__.py") else 1)

venv: $(STAMP)
	@"$(PY)" -I -c '$(SAME_CHECKOUT)' || { \
	  echo "$(VENV) imports wt_keras from another checkout (copied or moved): reinstalling it from $(CURDIR)"; \
	  rm -f "$(STAMP)"; $(MAKE) --no-print-directory "$(STAMP)"; }

$(STAMP): setup.py constraints.txt
	@set -e; \
	if [ ! -x "$(PY)" ]; then \
	  interp=$$(scripts/find_python310.sh); \
	  echo "creating $(VENV) with $$interp"; \
	  "$$interp" -m venv "$(VENV)"; \
	fi; \
	echo "installing wt_keras and the TFX 1.16 stack into $(VENV) (takes 2-4 minutes the first time)"; \
	"$(PY)" -m pip install -q --upgrade "pip<25" wheel 2>&1 | grep -v "^WARNING: Location" || true; \
	"$(PY)" -m pip install -q -c constraints.txt -e ".[pipeline,test]" 2>&1 | grep -vE "^WARNING: Location|DEPRECATION" || true; \
	"$(PY)" -c "import wt_keras, tensorflow_recommenders, tfx.v1, tensorflow_data_validation" ; \
	touch "$(STAMP)"

run: venv
	$(VENV)/bin/wt-pipeline run

# The suite runs on TEST_WORKERS processes (pytest-xdist), each taking whole test files, so
# a file's module fixtures (a trained model, a pipeline run) are built once.
TEST_WORKERS ?= 2
PYTEST = $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test: venv
	$(PYTEST) tests

test-fast: venv
	$(PYTEST) -m "not slow" tests

bench: venv
	$(PY) benchmarks/heads_train_step.py
	$(PY) benchmarks/xauc_speed.py
	$(PY) benchmarks/serving_latency.py
	$(PY) benchmarks/preprocessing_latency.py
	$(PY) benchmarks/bucket_boundary_gen_throughput.py

bench-methods: venv
	$(PY) benchmarks/compare_methods.py

clean:
	rm -rf $(VENV) build *.egg-info
