# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The CPU build of torch shipped on our machines, used when present (a plain `torch` from the
# registry would pull several GB of CUDA packages).
TORCH_WHEEL := $(firstword $(wildcard /opt/wheels/torch-2.13.0*.whl))

.PHONY: run test check install install-test bench package package-check wheel desktop-check icons clean

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

# The checked boundaries run first: import contracts (.importlinter), ruff (pyproject [tool.ruff]), mypy strict on
# core and inference (pyproject [tool.mypy]), then pytest.
check: $(VENV)/.installed-test
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m ruff check --no-cache .
	$(PY) -m mypy

test: check
	QT_QPA_PLATFORM=offscreen MANGACOLOR_TESTING=1 $(PY) -m pytest -q -p no:cacheprovider

bench: $(VENV)/.installed-test
	$(PY) benchmarks/tiling.py

# Desktop package: one-folder PyInstaller build in dist/mangacolor/ (packaging/README.md).
# `make package-check` builds, then colorizes a generated page with the built app. MODEL=path.onnx
# picks the model; left empty, the built app must find its bundled default (resources/models).
MODEL ?=

$(VENV)/.installed-package: $(VENV)/.installed pyproject.toml
	$(PIP) install -q -e ".[package]"
	touch $@

package: $(VENV)/.installed-package
	@start=$$(date +%s); \
	$(VENV)/bin/pyinstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller packaging/mangacolor.spec \
	&& echo "package: dist/mangacolor built in $$(( $$(date +%s) - start )) s, $$(du -sh dist/mangacolor | cut -f1)"

package-check: package
	$(PY) packaging/check_package.py --app dist/mangacolor/mangacolor $(if $(MODEL),--model "$(MODEL)")

# The wheel (what `pip install mangacolor` gets): model, icons, sample page and desktop files inside.
wheel: $(VENV)/.created
	$(PIP) wheel -q --no-deps -w dist .
	@ls -l dist/mangacolor-*.whl

# Linux desktop files: desktop entry and AppStream metainfo (desktop-file-utils, appstream).
DESKTOP_DIR := packaging/linux
desktop-check:
	desktop-file-validate $(DESKTOP_DIR)/org.mangacolor.MangaColor.desktop
	appstreamcli validate --no-net $(DESKTOP_DIR)/org.mangacolor.MangaColor.metainfo.xml

# Regenerate the PNG icon sizes from the SVG (after editing it).
icons: $(VENV)/.installed
	QT_QPA_PLATFORM=offscreen $(PY) $(DESKTOP_DIR)/make_icons.py

clean:
	rm -rf build dist .pytest_cache
