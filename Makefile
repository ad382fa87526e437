# All targets run through a virtual environment that `make install` builds from nothing:
#   make install                  Pyserini 2.4.0 on Python 3.12 in .venv/ (the default)
#   make install PYSERINI=1.6.0   Pyserini 1.6.0 on Python 3.11 in .venv-pyserini1.6/
# `make install` is the pip install, editable: `pip install -c constraints/<env>.txt -e '.[test]'`
# (EXTRAS=... picks other extras), torch first from TORCH_SPEC. Every target takes the same
# PYSERINI=... (`make test PYSERINI=1.6.0`); `make test-all` runs the suite in both environments
# and then the install check (what CI runs). `make test` and `make demo` install first when the
# environment is missing or older than the files that define it (pyproject.toml, setup.cfg,
# setup.py, this Makefile, the constraints file).
PYSERINI ?= 2.4.0
ifeq ($(PYSERINI),2.4.0)
PY_VERSION := 3.12
VENV       ?= .venv
else ifeq ($(PYSERINI),1.6.0)
PY_VERSION := 3.11
VENV       ?= .venv-pyserini1.6
else
$(error PYSERINI=$(PYSERINI): supported releases are 2.4.0 (the default, Python 3.12) and 1.6.0 (Python 3.11))
endif
# The interpreter that builds the venv: pythonX.Y on PATH when it runs, else the newest
# pyenv installation of X.Y (pyenv's shim fails when X.Y is not selected). PYTHON=... overrides.
PYTHON ?= $(shell for p in python$(PY_VERSION) $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$(PY_VERSION).*/bin/python$(PY_VERSION) 2>/dev/null | sort -rV); do "$$p" -c '' >/dev/null 2>&1 && { echo "$$p"; break; }; done)
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Exact pins of the tested environment (make constraints rewrites it from the venv).
CONSTRAINTS ?= constraints/py$(subst .,,$(PY_VERSION))-pyserini$(basename $(PYSERINI)).txt
# The extras `make install` adds: test = qdrant, onnx, train, analysis, splade-tiny and pytest.
EXTRAS ?= test
# torch 2.13.0: on Python 3.11 the CPU build that lies on this machine's disk; on Python 3.12
# PyPI's only Linux x86_64 build, which brings the CUDA 13 libraries (about 4.7 GB in the
# venv) and runs on the CPU as well. Installed first and without the constraints, so that a
# build from another index (GPU users: see the docs, GPU) is kept; the constraints pin the
# version only.
TORCH_SPEC ?= torch==2.13.0

.PHONY: install test test-fast test-all test-all-install-check install-check constraints demo bench bench-encode bench-maxsim clean

install: $(STAMP)

$(STAMP): pyproject.toml setup.cfg setup.py Makefile $(CONSTRAINTS)
	@test -n "$(PYTHON)" || { echo "make install: no Python $(PY_VERSION) found (Pyserini $(PYSERINI) needs it); install it or pass PYTHON=/path/to/python$(PY_VERSION)" >&2; exit 1; }
	@if test -x $(PY) && ! $(PY) -c 'import sys; sys.exit(sys.version_info[:2] != tuple(map(int, "$(PY_VERSION)".split("."))))'; then \
	  echo "make install: $(VENV)/ was built with Python $$($(PY) -c 'import platform; print(platform.python_version())'), not $(PY_VERSION) (Pyserini $(PYSERINI)); remove it (rm -rf $(VENV)) or choose another folder with VENV=..." >&2; exit 1; fi
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet $(TORCH_SPEC)
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e '.[$(EXTRAS)]'
	$(PY) -m pyserini_diffretriever.pyserini_bridge.doctor
	touch $(STAMP)

# The import contracts (setup.cfg, [importlinter]) first: a broken layer fails in seconds.
test: $(STAMP)
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -q tests

# The in-process unit tests only (about 1 min 15 s on an idle 2-core machine).
test-fast: $(STAMP)
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -q tests/unit

# The suite in both environments and the install check (CI: .ci/run). The environments are
# installed first, one after the other; then the three parts run side by side (TEST_ALL_JOBS=1:
# one after the other). A suite runs one test at a time and keeps about one core busy, the install
# check waits mostly on downloads. Two test files in both environments on this shared 2-core
# machine: 463 s side by side vs 757 s one after the other under other jobs' load (6-16), no gain
# when it was quiet (330-388 s vs 328 s). Each part's log is printed whole when the part ends;
# any part failing fails test-all.
TEST_ALL_JOBS ?= 3
test-all:
	$(MAKE) install PYSERINI=2.4.0
	$(MAKE) install PYSERINI=1.6.0
	@echo "make test-all: the Pyserini 2.4.0 suite, the 1.6.0 suite and the install check, $(TEST_ALL_JOBS) at a time"
	$(MAKE) -j $(TEST_ALL_JOBS) --output-sync=recurse test-all-suite-2.4.0 test-all-suite-1.6.0 test-all-install-check

test-all-suite-%:
	$(MAKE) test PYSERINI=$*

test-all-install-check:
	$(MAKE) install-check PYSERINI=2.4.0

# What a pip user gets: wheel and sdist built from the checkout's tracked files, the wheel
# installed (not editable) into a fresh venv with the constraints, the doctor, the demo from an
# empty folder, stock Pyserini's impact search, the qdrant and onnx extras, and an uninstall
# that leaves no hook. Timings and venv sizes on stdout.
install-check:
	@test -n "$(PYTHON)" || { echo "make install-check: no Python $(PY_VERSION) found; pass PYTHON=/path/to/python$(PY_VERSION)" >&2; exit 1; }
	PYTHON=$(PYTHON) CONSTRAINTS=$(CONSTRAINTS) TORCH_SPEC='$(TORCH_SPEC)' bash .ci/install_check.sh

# Rewrite the constraints file from the environment as installed (after a tested upgrade):
# pip freeze less this package, pip's own tools and torch's CUDA libraries (which follow the
# torch build that TORCH_SPEC picks); torch's local label (+cpu) dropped.
constraints:
	@test -x $(PY) || { echo "make constraints: no environment in $(VENV)/ (make install PYSERINI=$(PYSERINI))" >&2; exit 1; }
	{ echo "# Exact pins of the tested environment: Pyserini $(PYSERINI) on Python $(PY_VERSION)."; \
	  echo "# Written by \`make constraints PYSERINI=$(PYSERINI)\` (pip freeze of $(VENV)/, less this package,"; \
	  echo "# pip/setuptools/wheel and torch's CUDA libraries). Used by make install and CI:"; \
	  echo "#   pip install -c $(CONSTRAINTS) pyserini-diffretriever"; \
	  $(PY) -m pip freeze --exclude-editable --all \
	    | grep -viE '^(pyserini[-_]diffretriever|pip|setuptools|wheel|nvidia-.*|cuda-.*|triton)==' \
	    | sed -E 's/^(torch==[^+]*)\+.*/\1/'; } > $(CONSTRAINTS).tmp
	mv $(CONSTRAINTS).tmp $(CONSTRAINTS)

demo: $(STAMP)
	$(PY) -m pyserini_diffretriever.run --collection demo --encoder diffretriever-default

bench-encode: $(STAMP)
	$(PY) benchmarks/bench_encode.py

bench-maxsim: $(STAMP)
	$(PY) benchmarks/bench_maxsim.py

# Compressed dense index (issue 13): 1M docs x 16 x 768 synthetic store built on disk in chunks
# (24.6 GB float16; needs ~30 GB free), plus 100k x 16 x 3584. BENCH_COMPRESS_ARGS="--docs 20000" for less.
.PHONY: bench-compress
bench-compress: $(STAMP)
	$(PY) benchmarks/bench_compress.py $(BENCH_COMPRESS_ARGS)

# Recall@100 vs ms/query per search setting on an index kept by bench-compress
# (BENCH_COMPRESS_ARGS="--keep-index DIR"); BENCH_COMPRESS_CURVE_ARGS="--kept DIR/<docs>x<kp>x<dim> --grid ...".
.PHONY: bench-compress-curve
bench-compress-curve: $(STAMP)
	$(PY) benchmarks/bench_compress_curve.py $(BENCH_COMPRESS_CURVE_ARGS)

# Keeping an index current (issue 26): updating 1% / 10% of SciFact vs rebuilding, and the compressed
# index grown by 10/30/100% without retraining. Needs SciFact encoded (BENCH_UPDATE_ARGS="--encoded DIR").
.PHONY: bench-update
bench-update: $(STAMP)
	$(PY) benchmarks/bench_update.py $(BENCH_UPDATE_ARGS)

# The compressed index against PLAID (fast-plaid) and WARP (xtr-warp-rs) on SciFact, one run (issue 25):
# the peers run in their own venv (PEERS_VENV, built when missing; they pin torch 2.11), never imported
# by the package. JSON in benchmarks/results/peers.json. BENCH_PEERS_ARGS="--encoded DIR" reuses an encoding.
PEERS_VENV ?= $(HOME)/.cache/pyserini-diffretriever/peers-venv
.PHONY: bench-peers
bench-peers: $(STAMP)
	$(PY) benchmarks/bench_peers.py --peers-venv $(PEERS_VENV) $(BENCH_PEERS_ARGS)

# The 7-8B path on a CUDA device (issue 10): Dream/LLaDA-width random checkpoints, bf16 and fp32 vs
# CPU fp32, passages/s and queries/s, exact MaxSim GPU vs CPU; says so and exits 0 without CUDA.
# GPU_CHECK_ARGS="--device cpu --small" runs the same code at small widths on a CPU.
.PHONY: gpu-check
gpu-check: $(STAMP)
	$(PY) benchmarks/gpu_check.py $(GPU_CHECK_ARGS)

# Diffusion one pass vs autoregressive decoding, search latency and index storage (issue 6):
# tables, PNG plots in benchmarks/results/, one JSON object as the last line.
.PHONY: bench-comparison
bench-comparison: $(STAMP)
	$(PY) benchmarks/bench_comparison.py

# The ONNX query encoder (issue 15): torch vs onnxruntime float32/int8 latency, outputs, process memory.
.PHONY: bench-onnx
bench-onnx: $(STAMP)
	nice -n 10 $(PY) benchmarks/bench_onnx.py

# BM25 and impact search QPS with stock Pyserini on SciFact (the indexes of `run`, one folder
# per Pyserini release: Lucene 9 cannot open Lucene 10 indexes). Last line: one JSON object.
.PHONY: bench-lucene
BENCH_LUCENE_DIR := runs/bench-lucene/pyserini-$(PYSERINI)
bench-lucene: $(STAMP)
	$(PY) -m pyserini_diffretriever.run --collection ../shared/data/scifact --encoder diffretriever-default \
	    --index-dir indexes/pyserini-$(PYSERINI) --output-dir $(BENCH_LUCENE_DIR)
	$(PY) benchmarks/bench_lucene.py --bm25-index indexes/pyserini-$(PYSERINI)/scifact-bm25/lucene \
	    --impact-index indexes/pyserini-$(PYSERINI)/scifact-default/lucene \
	    --queries $(BENCH_LUCENE_DIR)/queries.cached.jsonl

# Hybrid search in one process (issue 24): per-stage latency at batch 1 and 32 on SciFact test, the
# three-program route against search.hybrid, BM25 in process; serve.json and serve_latency.png.
BENCH_SERVE_ENCODED ?= indexes/scifact-default
.PHONY: bench-serve
bench-serve: $(STAMP)
	$(PY) -m pyserini_diffretriever.encode --corpus ../shared/data/scifact/corpus.jsonl \
	    --encoder diffretriever-default --output $(BENCH_SERVE_ENCODED)
	$(PY) benchmarks/bench_serve.py --collection ../shared/data/scifact --encoded $(BENCH_SERVE_ENCODED) \
	    --work indexes/bench-serve

# The whole hybrid inside Lucene (issue 24): index size per document with and without the
# LateInteractionField, build time, queries/s, nDCG@10 of impact / MaxSim rescoring / combined / fused
# hybrid on SciFact (test), Cranfield and CISI (each encoded here first unless already there).
BENCH_LI_ENCODED ?= indexes/bench-late-interaction/encoded
.PHONY: bench-late-interaction
bench-late-interaction: $(STAMP)
	for c in scifact cranfield cisi; do test -f $(BENCH_LI_ENCODED)/$$c/dense/meta.json || $(PY) -m \
	    pyserini_diffretriever.encode --corpus ../shared/data/$$c/corpus.jsonl --encoder diffretriever-default \
	    --output $(BENCH_LI_ENCODED)/$$c || exit 1; done
	$(PY) benchmarks/bench_late_interaction.py --data ../shared/data --work indexes/bench-late-interaction \
	    --encoded scifact=$(BENCH_LI_ENCODED)/scifact cranfield=$(BENCH_LI_ENCODED)/cranfield cisi=$(BENCH_LI_ENCODED)/cisi

# Qdrant export points/s by upload workers (qdrant-edge, SciFact encoded with diffretriever-default;
# encoded here first unless BENCH_QDRANT_EXPORT_ENCODED names a finished folder).
BENCH_QDRANT_EXPORT_ENCODED ?= indexes/scifact-default
.PHONY: bench-qdrant-export
bench-qdrant-export: $(STAMP)
	test -f $(BENCH_QDRANT_EXPORT_ENCODED)/dense/meta.json || $(PY) -m pyserini_diffretriever.encode \
	    --corpus ../shared/data/scifact/corpus.jsonl --encoder diffretriever-default --output $(BENCH_QDRANT_EXPORT_ENCODED)
	$(PY) benchmarks/bench_qdrant_export.py --encoded $(BENCH_QDRANT_EXPORT_ENCODED)

# Install time and venv size of the built wheel (from HEAD), core and [all], each in a fresh venv with
# the constraints, torch first (issue 23): wheel_install in benchmarks/results/install_times.json, rendered
# into docs/installation.md. pip's cache is used: run it (or make install-check) once before for a warm cache.
.PHONY: bench-install
bench-install:
	@test -n "$(PYTHON)" || { echo "make bench-install: no Python $(PY_VERSION) found; pass PYTHON=/path/to/python$(PY_VERSION)" >&2; exit 1; }
	$(PYTHON) benchmarks/install_times.py --python $(PYTHON) --constraints $(CONSTRAINTS) --torch-spec '$(TORCH_SPEC)'

bench: bench-encode bench-maxsim bench-comparison

clean:
	rm -rf $(VENV) build dist *.egg-info

# Encoding on Ray (issue 27): 1 and 2 CPU workers of a local cluster on SciFact passages; the
# throughput ratio and whether the folders are identical -> benchmarks/results/ray.json.
# Peak host memory of loading a Dream-7B-shaped checkpoint, before and after the low-memory
# loader -> benchmarks/results/load_memory.json (writes a ~3 GB checkpoint; ~10 GB RAM).
BENCH_RAY_ARGS ?=
.PHONY: bench-ray bench-load-memory
bench-ray: $(STAMP)
	$(PY) benchmarks/bench_ray.py $(BENCH_RAY_ARGS)

bench-load-memory: $(STAMP)
	$(PY) benchmarks/bench_load_memory.py

# K_q x K_p sweeps with the default encoder (issue 16): grid, oracles, correlations, kq: auto,
# per-passage K_p; figures and JSON in benchmarks/results/sweep/<collection>/. Long on a CPU
# (SciFact: the corpus is encoded once per K_p); finished encodings in indexes/sweep/ are reused.
SWEEP_GRID ?= --kq 1 2 4 8 16 --kp 1 2 4 8 16 32
.PHONY: bench-sweep
bench-sweep: $(STAMP)
	$(PY) -m pyserini_diffretriever.sweep --collection ../shared/data/scifact $(SWEEP_GRID) \
	    --select-split train --report-split test --output-dir benchmarks/results/sweep/scifact \
	    --write-config benchmarks/results/sweep/scifact/kq-auto.yaml
	for c in cranfield cisi; do $(PY) -m pyserini_diffretriever.sweep --collection ../shared/data/$$c $(SWEEP_GRID) \
	    --select-split test:first-half --report-split test:second-half --no-remove-query \
	    --output-dir benchmarks/results/sweep/$$c --write-config benchmarks/results/sweep/$$c/kq-auto.yaml || exit 1; done

# Issue 22: the 66-case hostile trial (bad input, damage, environment faults, concurrency,
# messages) on a 300-document SciFact slice -> benchmarks/results/hostile_trial.json (root for
# the tmpfs / read-only cases); verify's speed and search start-up cost on SciFact's dense store
# and its compressed index (a copy: verification writes stamps) -> benchmarks/results/verify_*.json.
VERIFY_STORE ?= indexes/scifact-verify/dense
.PHONY: trial-hostile bench-verify
trial-hostile: $(STAMP)
	$(PY) benchmarks/trial_hostile.py --data ../shared/data/scifact

bench-verify: $(STAMP)
	test -f $(VERIFY_STORE)/meta.json || $(PY) -m pyserini_diffretriever.encode \
	    --corpus ../shared/data/scifact/corpus.jsonl --encoder diffretriever-default --output $(dir $(VERIFY_STORE))
	test -f $(VERIFY_STORE)/compressed/meta.json || $(PY) -m pyserini_diffretriever.index.faiss --index $(VERIFY_STORE) --compress
	$(PY) benchmarks/bench_verify.py --size-gb 1 --store $(VERIFY_STORE) --store $(VERIFY_STORE)/compressed \
	    --output benchmarks/results/verify_speed.json
	$(PY) benchmarks/bench_verify_startup.py --store $(VERIFY_STORE) --output benchmarks/results/verify_startup_scifact.json
