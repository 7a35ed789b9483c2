# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The CPU build of torch shipped on our machines, used when present (a plain `torch` from the
# registry would pull several GB of CUDA packages).
TORCH_WHEEL := $(firstword $(wildcard /opt/wheels/torch-2.13.0*.whl))

.PHONY: run test install install-test bench package clean

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	touch $@

$(VENV)/.installed: $(VENV)/.created pyproject.toml
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
ifneq ($(TORCH_WHEEL),)
	$(PIP) install -q "$(TORCH_WHEEL)"
endif
	$(PIP) install -q -e ".[train,dev]"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: $(VENV)/.installed
	$(VENV)/bin/mangacolor

test: $(VENV)/.installed-test
	QT_QPA_PLATFORM=offscreen MANGACOLOR_TESTING=1 $(PY) -m pytest -q -p no:cacheprovider

bench: $(VENV)/.installed-test
	$(PY) benchmarks/tiling.py

package: $(VENV)/.installed
	$(PIP) install -q -e ".[package]"
	$(VENV)/bin/pyinstaller --noconfirm --distpath dist --workpath build/pyinstaller packaging/mangacolor.spec

clean:
	rm -rf build dist .pytest_cache
