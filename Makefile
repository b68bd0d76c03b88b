# The two set-up commands of README.md: `make demo` and `make test`.
# Both install what they need first (system libraries via apt-get, Python packages into .venv).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install demo test
install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	bash .ci/system-deps
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

demo: install
	$(VENV)/bin/churnlens demo --out demo-report

test: install
	MPLBACKEND=Agg $(VENV)/bin/pytest -q
