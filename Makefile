# kfp-mlops: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
UV_VERSION := 0.13.8
VENV := .venv
TVENV := .venv-trainer
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMPS := .stamps
# tfmot needs Keras 2: TensorFlow 2.21 must use tf-keras, not Keras 3.
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 2
export KFP_MLOPS_TRAINER_PYTHON := $(CURDIR)/$(TVENV)/bin/python
HOROVOD_FLAGS := HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 \
	HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1

.PHONY: help install install-pipeline install-trainer system-deps test test-fast demo compile readmes \
	check-compiled lint audit bench lock images clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

install: install-pipeline install-trainer  ## create both envs (idempotent: seconds when up to date)

install-pipeline: $(STAMPS)/pipeline $(STAMPS)/pipeline-bytecode
install-trainer: $(STAMPS)/trainer $(STAMPS)/trainer-bytecode

# uv does not write .pyc files, and where PYTHONDONTWRITEBYTECODE=1 is set (as on these
# machines) Python never caches them: every process then compiled TensorFlow, KServe and
# MLflow from source (import tensorflow 11-12 s instead of 4-5 s; the TFLite server's cold
# start 2.7-3.3 s instead of 0.8-1.2 s). Compile each env once, as pip does in the images.
ENV_PY_pipeline := $(PY)
ENV_PY_trainer := $(TVENV)/bin/python
$(STAMPS)/%-bytecode: $(STAMPS)/%
	@echo "byte-compiling the $* env (once, under a minute)"
	@$(ENV_PY_$*) -m compileall -q -j0 "$$($(ENV_PY_$*) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
		>/dev/null || echo "note: some files did not byte-compile (they still import, compiled each time)"
	touch $@

system-deps:  ## Debian packages: cmake, g++ (Horovod build), OpenSSH, PostgreSQL 15, Prometheus, Pushgateway, Alertmanager, Java 17 (tests); only if missing
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	@if ! command -v cmake >/dev/null || ! command -v g++ >/dev/null \
		|| ! test -x /usr/sbin/sshd || ! command -v ssh >/dev/null \
		|| ! test -x /usr/lib/postgresql/15/bin/initdb || ! command -v promtool >/dev/null \
		|| ! command -v prometheus-pushgateway >/dev/null \
		|| ! command -v prometheus-alertmanager >/dev/null || ! command -v java >/dev/null; then \
		echo "installing cmake and g++ (Horovod build), openssh (horovodrun across hosts), postgresql-15, prometheus, pushgateway, alertmanager (tests run them on loopback), Java 17 (Spark in local mode)"; \
		pkgs="cmake g++ make openssh-server openssh-client postgresql-15 prometheus prometheus-pushgateway prometheus-alertmanager openjdk-17-jre-headless"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends $$pkgs || exit 1; \
		for svc in prometheus prometheus-pushgateway prometheus-alertmanager postgresql; do \
			$$SUDO service $$svc stop >/dev/null 2>&1 || true; done; fi
	@# Debian starts those services at install: the tests start their own on loopback.
	@command -v kubectl >/dev/null || echo "note: kubectl not found: the kustomize render tests will skip (install kubectl)"

$(STAMPS)/pipeline: containers/pipeline/requirements.in containers/pipeline/requirements-dev.in \
		containers/pipeline/constraints.txt setup.cfg setup.py | system-deps
	@mkdir -p $(STAMPS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	test -x $(UV) || $(VENV)/bin/pip install -q uv==$(UV_VERSION)
	$(UV) pip install -q --python $(PY) -r containers/pipeline/requirements.in \
		-r containers/pipeline/requirements-dev.in -c containers/pipeline/constraints.txt
	$(UV) pip install -q --python $(PY) --no-deps -e .
	$(UV) pip check --python $(PY)
	touch $@

$(STAMPS)/trainer: containers/trainer/requirements.in containers/trainer/constraints.txt \
		setup.cfg setup.py | $(STAMPS)/pipeline
	test -x $(TVENV)/bin/python || $(PYTHON) -m venv $(TVENV)
	$(UV) pip install -q --python $(TVENV)/bin/python -r containers/trainer/requirements.in \
		-c containers/trainer/constraints.txt
	@# Horovod compiles against the installed TensorFlow (about 3 minutes); skipped when present.
	@# TF 2.15 has Keras 2 built in: the exported TF_USE_LEGACY_KERAS=1 must not reach it.
	TF_USE_LEGACY_KERAS=0 $(TVENV)/bin/python -c "import horovod.tensorflow.keras" 2>/dev/null || \
		$(HOROVOD_FLAGS) $(TVENV)/bin/pip install -q --no-build-isolation --no-cache-dir \
		-c containers/trainer/constraints.txt horovod==0.28.1
	$(UV) pip install -q --python $(TVENV)/bin/python --no-deps -e .
	$(TVENV)/bin/pip check
	touch $@

test: install lint  ## install what is missing, lint, then run every test (slow ones too, as CI does)
	@# One worker per core, whole files per worker (module fixtures are built once), in
	@# collection order so the longest files start first (tests/conftest.py).
	$(PY) -m pytest -q -n auto --dist loadfile --no-loadscope-reorder --durations=15

test-fast: install-pipeline  ## unit tests only (no kfp.local runs, servers, training or trainer env)
	$(PY) -m pytest -q -m "not slow and not trainer"

demo: install  ## run the main training pipeline locally through kfp.local and print where everything landed
	$(PY) -m kfp_mlops.pipelines.tooling.cli run-local training_pipeline

compile: install-pipeline  ## compile every pipeline and component into compiled/
	$(PY) -m kfp_mlops.pipelines.tooling.cli compile

readmes: install-pipeline  ## regenerate the inputs/outputs table of every component README
	$(PY) -m kfp_mlops.pipelines.tooling.cli readmes

check-compiled: install-pipeline  ## fail when compiled/ is stale
	$(PY) -m kfp_mlops.pipelines.tooling.cli compile --check

lint: install-pipeline  ## ruff, bandit and pip-audit (accepted findings: .ci/SECURITY.md)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/bandit -q -r components pipelines --skip B101,B105,B404,B603
	$(PY) .ci/audit.py

audit: install-pipeline  ## strict pip-audit: every package must be audited (needs PyPI's JSON API or osv.dev)
	$(VENV)/bin/pip-audit --skip-editable --strict --progress-spinner off

bench: install  ## run every benchmark under benchmarks/ (ratios from one run each)
	$(PY) -m benchmarks

lock: install  ## re-resolve both envs and rewrite the constraints files
	{ echo "# Full resolved pipeline env (Python 3.11). Regenerate with: make lock"; \
	  $(UV) pip freeze --python $(PY) | grep -v '^-e\|^kfp-mlops'; } > containers/pipeline/constraints.txt
	{ echo "# Full resolved trainer env (Python 3.11): protobuf < 5 and numpy < 2 for TensorFlow 2.15.1 + Horovod 0.28.1. Regenerate with: make lock"; \
	  $(UV) pip freeze --python $(TVENV)/bin/python | grep -v '^-e\|^kfp-mlops'; } > containers/trainer/constraints.txt

images:  ## build the container images (needs a Docker engine; not available in CI)
	@for name in pipeline trainer serving; do \
		tag=$$($(PY) -c "from kfp_mlops.components.common.versions import IMAGES; print(IMAGES['$$name'])"); \
		echo "docker build -f containers/$$name/Dockerfile -t $$tag ."; \
		docker build -f containers/$$name/Dockerfile -t $$tag . || exit 1; done

clean:  ## remove local run outputs (keeps the envs)
	rm -rf local_outputs mlruns .pytest_cache
