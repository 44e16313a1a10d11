# timbre: the two set-up commands. Each creates .venv when missing, installs timbre with
# every extra (.[all,test]) into it at the versions CI ran (constraints.txt; CONSTRAINTS=
# resolves freely), installs the system FluidSynth library and the
# SoundFonts of the default piano pool when they are missing (as root or with
# sudo; otherwise it stops with the command to run), then runs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
CONSTRAINTS ?= constraints.txt
# basic-pitch (transcription) goes in without its dependencies: it pins TensorFlow below
# 2.15.1 for a backend timbre does not use (its model runs on ONNX Runtime); the packages it
# imports come with the [transcribe] extra
BASIC_PITCH ?= 0.4.0
DEMO_MINUTES ?= 10
DEMO_DIR ?= demo

.PHONY: test lint demo pretrained setup system-packages clean-demo web serve
WEB_STAMP := web/node_modules/.installed

setup: $(STAMP) system-packages

$(STAMP): $(CONSTRAINTS) pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "timbre needs Python >= 3.10, found " + sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e '.[all,test]'
	$(PY) -m pip install --quiet --no-deps basic-pitch==$(BASIC_PITCH)
	@touch $(STAMP)

system-packages:
	@sh tools/ensure_system_packages.sh

test: setup lint $(WEB_STAMP)
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

demo: setup
	$(PY) -m timbre.cli.demo --minutes $(DEMO_MINUTES) --output $(DEMO_DIR)

# Rebuild the model shipped in timbre/pretrained/ from scratch (data, training, card): a strings
# model (about 28 minutes of training on a 2-core CPU), then the strings/guitar/synth-lead model
# from its weights (50 minutes, the cosine following the clock); about 100 minutes in all with
# the data and the evaluation; resumable (work folder build/pretrained).
pretrained: setup
	$(PY) -m timbre.cli.pretrained --work build/pretrained --minutes 50

# The browser page: the pinned npm packages (web/package-lock.json), then the site in
# build/web (the page, ONNX Runtime Web, the shipped models); `make serve` (or `timbre web`)
# serves it on http://127.0.0.1:8000/.
$(WEB_STAMP): web/package-lock.json | system-packages
	cd web && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

web: setup $(WEB_STAMP)
	$(PY) -m timbre.cli.web --build_only

serve: web
	$(PY) -m timbre.cli.web

clean-demo:
	rm -rf $(DEMO_DIR)
