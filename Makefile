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

.PHONY: install data train test test-slow test-all lint format tensorboard report bench gpu-check wheels study claims clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e '.[dev,search]'
	@touch $(STAMP)

install: $(STAMP)

data: $(STAMP)
	$(PY) -m sample_importance.dataset.fashion_mnist $(DATA_DIR)

# The main job: the paper's method on imbalanced Fashion-MNIST with LeNet (about a minute on 2 cores).
train: data
	$(PY) -m sample_importance.train paths.data_dir=$(DATA_DIR) $(ARGS)

# The fast suite on every core (pytest-xdist; a file's tests stay on one worker, so a module's
# shared run is made once); each worker's torch on one thread, so workers do not fight over cores.
TEST_WORKERS ?= auto
test: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m pytest -m "not slow" -q -n $(TEST_WORKERS) --dist loadfile

test-slow: $(STAMP)
	$(PY) -m pytest -m slow -q

test-all: $(STAMP)
	$(PY) -m pytest -q

# Lint and format check (the rules are in pyproject.toml); `make format` applies the fixes it can.
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

tensorboard: $(STAMP)
	$(VENV)/bin/tensorboard --logdir logs

# The paper's tables and figures for sweep folders, compared together (a baseline swept apart
# from the method goes in the same list): make report SWEEPS="logs/multiruns/DATE/T1 logs/multiruns/DATE/T2".
# Without SWEEPS, the newest sweep under logs/multiruns (a folder with Hydra's multirun.yaml).
# Written to report/ in the one folder, else in the folders' common parent.
SWEEPS ?=
report: $(STAMP)
	@sweeps="$(SWEEPS)"; \
	if [ -z "$$sweeps" ]; then sweeps=$$(ls logs/multiruns/*/*/multirun.yaml 2>/dev/null | sort | tail -n 1 | xargs -r dirname); fi; \
	if [ -z "$$sweeps" ]; then echo "error: no sweep under logs/multiruns (run python -m sample_importance.train -m ...)" >&2; exit 2; fi; \
	echo "report of: $$sweeps"; \
	$(PY) -m sample_importance.report $$sweeps $(ARGS)

# Wall-time benchmarks (about 7 minutes on 2 cores): benchmarks/results/<name>.json and a table (BENCHMARKS.md).
bench: data
	$(PY) -m benchmarks.run $(ARGS)

# The GPU path in one call of at most 6 minutes: benchmarks/results/gpu.json and a table (BENCHMARKS.md).
# No install step: on the GPU machine torch is there and the other dependencies come from the
# wheels in .whl/ (BENCHMARKS.md); the .venv's python where there is one, else python3.
gpu-check:
	PYTHONPATH=src$${PYTHONPATH:+:$$PYTHONPATH} $(if $(wildcard $(PY)),$(PY),$(PYTHON)) -m benchmarks.gpu $(ARGS)

# What a machine with torch, Lightning, torchmetrics and tensorboard but no internet lacks, as
# pure-Python wheels in .whl/ (git-ignored; about 0.5 MB). Needs the package index.
GPU_WHEELS ?= hydra-core==1.3.8 omegaconf==2.3.1 antlr4-python3-runtime==4.9.3 hydra-submitit-launcher==1.2.0 submitit==1.5.4
wheels: $(STAMP)
	$(PY) -m pip wheel -q --no-deps -w .whl $(GPU_WHEELS)

# The CPU convergence study (about 20 minutes on 2 cores, 80 runs): logs/study/<time>/ with its reports.
study: data
	PY=$(PY) scripts/study.sh $(ARGS)

# The CPU experiments behind each claim of the paper and CLAIMS.md written from them (scripts/claims.sh:
# about 260 runs, 4 seeds). CLAIMS="C1 C3" runs a subset; sweeps finished in logs/claims are not rerun.
CLAIMS ?=
claims: data
	PY=$(PY) CLAIMS="$(CLAIMS)" scripts/claims.sh $(ARGS)

clean:
	rm -rf logs/runs logs/multiruns logs/debug logs/scores .pytest_cache
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +
