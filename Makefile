# Set-up is part of every target: a fresh clone needs only `make train` or `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# torch is pinned here, not in pyproject.toml (whose ranges only say what the code needs), for
# reproducible installs (pip takes it from the local wheel cache where one exists);
# override for another platform, e.g. make install TORCH_SPEC="torch torchvision".
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed
DATA_DIR ?= data
ARGS ?=

.PHONY: install data train test test-all tensorboard report bench study clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

data: $(STAMP)
	$(PY) -m sample_importance.dataset.fashion_mnist $(DATA_DIR)

# The main job: the paper's method on imbalanced Fashion-MNIST with LeNet (about a minute on 2 cores).
train: data
	$(PY) -m sample_importance.train paths.data_dir=$(DATA_DIR) $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -m "not slow" -q

test-slow: $(STAMP)
	$(PY) -m pytest -m slow -q

test-all: $(STAMP)
	$(PY) -m pytest -q

tensorboard: $(STAMP)
	$(VENV)/bin/tensorboard --logdir logs

# The paper's tables and figures for the newest sweep under logs/multiruns (written to its report/).
report: $(STAMP)
	@sweep=$$(ls -d logs/multiruns/*/*/ 2>/dev/null | sort | tail -n 1); \
	if [ -z "$$sweep" ]; then echo "error: no sweep under logs/multiruns (run python -m sample_importance.train -m ...)" >&2; exit 2; fi; \
	$(PY) -m sample_importance.report $$sweep $(ARGS)

# Wall-time benchmarks (about 7 minutes on 2 cores): benchmarks/results/<name>.json and a table (BENCHMARKS.md).
bench: data
	$(PY) -m benchmarks.run $(ARGS)

# The CPU convergence study (about 20 minutes on 2 cores, 80 runs): logs/study/<time>/ with its reports.
study: data
	PY=$(PY) scripts/study.sh $(ARGS)

clean:
	rm -rf logs/runs logs/multiruns logs/scores .pytest_cache
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +
