# cvzoo: the two commands of the README.
#   make test   create .venv if missing, install everything, run the static checks and the whole suite
#   make demo   the same set-up, then serve the Gradio app on 127.0.0.1:7860
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.cvzoo-installed

.PHONY: test demo lint install readme

install: $(STAMP)

# Re-installs only when pyproject.toml changes; running `make test` twice does not reinstall.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

test: lint
	$(PY) -m pytest

# Static checks (the first part of `make test`): style, the package layering (import-linter contracts in
# pyproject.toml) and the declared dependencies (deptry). Complexity and per-extra dependencies are
# checked by tests/test_architecture.py.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/deptry .

demo: $(STAMP)
	GRADIO_ANALYTICS_ENABLED=False $(PY) -m demos.app

# Regenerate the README's model table from the registry (a test checks they agree).
readme: $(STAMP)
	$(PY) -c "import pathlib; from zoo.cli import models_table; p = pathlib.Path('README.md'); \
	s = p.read_text(); a, b = '<!-- models:start -->\n', '\n<!-- models:end -->'; \
	p.write_text(s.split(a)[0] + a + models_table(markdown=True) + b + s.split(b)[1])"
