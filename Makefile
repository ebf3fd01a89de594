# Every target sets itself up: a fresh machine needs only python3 and make.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
BLENDER_STAMP := $(VENV)/.installed-blender
# OpenCue's host agent (RQD) for the tests, in its own environment (tests/requirements/rqd.txt).
RQD_VENV := .venv-rqd
RQD_STAMP := $(RQD_VENV)/.installed

.PHONY: demo test lint bench bench-blender bench-polling clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The real Blender (PyPI's bpy, ~520 MB) for the tests only: the demo never downloads it.
$(BLENDER_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,blender]'
	touch $(BLENDER_STAMP)

$(RQD_STAMP): tests/requirements/rqd.txt
	$(PYTHON) -m venv $(RQD_VENV)
	$(RQD_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(RQD_VENV)/bin/python -m pip install --quiet -r tests/requirements/rqd.txt
	touch $(RQD_STAMP)

# Runs the demo on a private local farm under .demo-home, then stops that farm.
demo: $(STAMP)
	DCCFUTURES_HOME=$(CURDIR)/.demo-home $(PY) -m dccfutures.demo

# The static checks keep the code valid for Python 3.9 (Maya 2023, Houdini 19.5), and its calls
# into Maya and Houdini valid for the published stubs (mypy.ini: which files, and why).
lint: $(STAMP)
	$(VENV)/bin/vermin -t=3.9- --no-tips --violations --eval-annotations --backport typing dccfutures jobtypes maya_plugin tests benchmarks
	$(PY) -m mypy

test: lint $(BLENDER_STAMP) $(RQD_STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/run.py

# 48 Cycles frames three ways: dccfutures' warm workers, a process per frame, one process.
bench-blender: $(BLENDER_STAMP)
	$(PY) benchmarks/blender_frames.py --rounds 3

# Polling cost (calls and bytes per poll cycle) of a 1,000-item map and 200 submits on OpenCue
# (the fake Cuebot, one real RQD running every frame) next to Qube (the fake qb).
bench-polling: $(STAMP) $(RQD_STAMP)
	$(PY) benchmarks/opencue_polling.py

clean:
	rm -rf $(VENV) $(RQD_VENV) .demo-home .bench-home .test-artifacts .mypy_cache build dist *.egg-info
