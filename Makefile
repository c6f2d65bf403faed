# Fresh machine:  make demo   (set up, then the long-tail demo on the embedded mnist-lt)
#                 make test   (set up, then the test suite)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.synaug-installed

.PHONY: setup system-deps test demo bench clean

setup: system-deps $(STAMP)

system-deps:
	bash scripts/install-system-deps.sh

# torch first: the 2.14.1 + torchvision 0.29.1 pair lies on this machine's disk (a CUDA build that runs on
# the CPU); any other request downloads several GB.
$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[test,diffusion]'
	touch $(STAMP)

# one pytest-xdist worker per core (each with one torch thread: tests/conftest.py); a file's tests run on one
# worker, so its module-scoped fixtures (a fitted model, a tiny Stable Diffusion folder) are built once
test: setup
	$(PY) -m pytest -q -n auto --dist loadfile --durations=10

demo: setup
	$(VENV)/bin/synaug demo

bench: setup
	$(PY) benchmarks/render_throughput.py
	$(PY) benchmarks/train_throughput.py
	$(PY) benchmarks/demo_time.py

clean:
	rm -rf $(VENV) runs .pytest_cache
