# restora developer entry points. `make demo` sets up and restores the sample image; `make test` runs the tests.
PY ?= python3
VENV ?= .venv
# CPU machines: the CPU build of torch (on this project's machines it lies on disk).
# GPU machines: `make setup TORCH=torch` (PyPI's default Linux wheel is the CUDA build).
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: setup demo test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -m pip install -q --no-deps "spandrel>=0.3" einops
	$(BIN)/python -m pip install -q --no-deps "facenet-pytorch>=2.5"  # MTCNN weights only (restora.faces)
	$(BIN)/python -m pip install -q "dlib-bin>=20.0" "face-recognition-models>=0.3.0"  # identity metrics (restora.metrics.identity)
	touch $@

demo: setup
	mkdir -p results
	$(BIN)/restora restore src/restora/samples/sample_noisy.png results/sample_restored.png --overwrite --compare results/sample_compare.png

test: setup
	$(BIN)/python -m pytest -q -n 2 -p no:cacheprovider

clean:
	rm -rf $(VENV) results
