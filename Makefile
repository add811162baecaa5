# lvs.ipvs: one entry point for setup, lint, tests and the demo.
# Every target installs what it is missing first (Debian packages, the pinned
# Python tools) and nothing twice: a second run reuses what the first one made.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BUILD := .build
TREE := $(BUILD)/ansible_collections/lvs/ipvs
# pyroute2 as Debian 12 ships it, to run the unit tests against both supported series.
PYROUTE2_OLD := 0.7.2
PYROUTE2_OLD_DIR := $(VENV)/pyroute2-$(PYROUTE2_OLD)
# The lowest ansible-core meta/runtime.yml claims, for one more unit test pass, in a venv of its own.
LOWEST_VENV := $(VENV)/ansible-core-lowest
# What a unit test pass runs with, for its header.
UNIT_VERSIONS := -c 'import importlib.metadata as m; print("ansible-core %s, pyroute2 %s" % (m.version("ansible-core"), m.version("pyroute2")))'
LAB := $(BIN)/python molecule/lab/lab.py
# Molecule scenarios that `make test` runs, JOBS at a time, each in a lab of its own; the
# longest first (ipvs_modules: every module option, four passes each, about 15 minutes).
SCENARIOS ?= ipvs_modules ipvs_modules_trixie smoke real_server dr nat nat_trixie tun fullnat fullnat_iptables
JOBS ?= 4

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

.PHONY: setup
setup: apt $(BIN)/.installed $(BUILD)/collections ## install the Debian packages and the pinned Python tools

# The collection as Ansible finds it for the Molecule scenarios: a link to this work tree, so
# every run sees the current files, and parallel scenarios share it instead of each
# reinstalling a copy into one shared place.
$(BUILD)/collections:
	mkdir -p $@/ansible_collections/lvs
	ln -sfn ../../../.. $@/ansible_collections/lvs/ipvs

.PHONY: apt
apt:
	@tools/apt-install.sh requirements/apt.txt

$(BIN)/.installed: requirements/controller.txt | apt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements/controller.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --target $(PYROUTE2_OLD_DIR) pyroute2==$(PYROUTE2_OLD)
	touch $@

# ansible-test installs each sanity test's own pinned requirements; they get a virtual
# environment of their own so that they never change the tools' versions above.
# (ansible-test --venv would fetch a pip bootstrap script from outside the package registries.)
SANITY_VENV := $(VENV)/sanity
$(SANITY_VENV)/.installed: requirements/controller.txt | $(BIN)/.installed
	$(PYTHON) -m venv $(SANITY_VENV)
	$(SANITY_VENV)/bin/pip install --quiet --disable-pip-version-check --upgrade pip
	$(SANITY_VENV)/bin/pip install --quiet --disable-pip-version-check $$(grep -i '^ansible-core==' requirements/controller.txt)
	pip_version=$$($(SANITY_VENV)/bin/python -c 'from ansible_test._internal.python_requirements import get_venv_packages as g; \
	  from types import SimpleNamespace as N; print(g(N(version="")).get("pip"))'); \
	  mkdir -p ~/.ansible/test/cache; \
	  cp tools/ansible_test_get_pip.py ~/.ansible/test/cache/get_pip_$${pip_version//./_}.py
	touch $@

# Only what the unit tests need, all pinned; made once, like the environments above.
$(LOWEST_VENV)/.installed: requirements/unit-lowest.txt | $(BIN)/.installed
	$(PYTHON) -m venv $(LOWEST_VENV)
	$(LOWEST_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements/unit-lowest.txt
	touch $@

.PHONY: tree
tree: | $(BIN)/.installed
	@tools/collection-tree.sh $(BUILD) >/dev/null

.PHONY: lint
lint: setup ## yamllint and ansible-lint (production profile)
	$(BIN)/yamllint --strict .
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/ansible-lint --nocolor

.PHONY: sanity
sanity: setup tree $(SANITY_VENV)/.installed ## ansible-test sanity, with no ignore entries
	@if ls tests/sanity/ignore-*.txt >/dev/null 2>&1; then echo "sanity: ignore files are not allowed"; exit 1; fi
	cd $(TREE) && PATH=$(CURDIR)/$(SANITY_VENV)/bin:$$PATH ansible-test sanity --requirements --color no \
	  --python $$($(CURDIR)/$(SANITY_VENV)/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')

.PHONY: unit
unit: setup tree $(LOWEST_VENV)/.installed ## unit tests (pinned ansible-core with pyroute2 0.9 and 0.7; the lowest claimed ansible-core), the lab tool's
	@claimed=$$(sed -n 's/^requires_ansible: *">= *\([0-9]*\.[0-9]*\)[^"]*"/\1/p' meta/runtime.yml); \
	  grep -q "^ansible-core==$${claimed//./\\.}\.[0-9]*$$" requirements/unit-lowest.txt || \
	  { echo "unit: requirements/unit-lowest.txt does not pin the ansible-core $${claimed:-?} that meta/runtime.yml claims"; exit 1; }
	@echo "== unit tests, $$($(BIN)/python $(UNIT_VERSIONS))"
	cd $(TREE) && PYTHONPATH=$(CURDIR)/$(BUILD) $(CURDIR)/$(BIN)/pytest -p no:cacheprovider tests/unit
	@echo "== unit tests, $$(PYTHONPATH=$(PYROUTE2_OLD_DIR) $(BIN)/python $(UNIT_VERSIONS))"
	cd $(TREE) && PYTHONPATH=$(CURDIR)/$(PYROUTE2_OLD_DIR):$(CURDIR)/$(BUILD) $(CURDIR)/$(BIN)/pytest -p no:cacheprovider tests/unit
	@echo "== unit tests, $$($(LOWEST_VENV)/bin/python $(UNIT_VERSIONS)) (the lowest meta/runtime.yml claims)"
	cd $(TREE) && PYTHONPATH=$(CURDIR)/$(BUILD) $(CURDIR)/$(LOWEST_VENV)/bin/pytest -p no:cacheprovider tests/unit
	@echo "== unit tests of the lab tool"
	$(BIN)/pytest -p no:cacheprovider molecule/lab/tests

.PHONY: build
build: setup ## build the collection tarball into .build/, install it apart and list its modules
	rm -rf $(BUILD)/dist $(BUILD)/installed
	$(BIN)/ansible-galaxy collection build --output-path $(BUILD)/dist .
	$(BIN)/ansible-galaxy collection install --offline --force -p $(BUILD)/installed $(BUILD)/dist/lvs-ipvs-*.tar.gz
	ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/$(BUILD)/installed $(BIN)/ansible-doc -l lvs.ipvs | tee $(BUILD)/modules.txt
	@for module in $$(ls plugins/modules | sed -n 's/\.py$$//p'); do \
	  grep -q "^lvs\.ipvs\.$$module " $(BUILD)/modules.txt || { echo "build: lvs.ipvs.$$module is missing from the installed collection"; exit 1; }; \
	done

.PHONY: lab
lab: setup ## build (or reuse) the lab's UML kernel and base image
	$(LAB) build

.PHONY: molecule
molecule: setup lab ## the Molecule scenarios in lab VMs (SCENARIOS="a b", JOBS=n)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python tools/run_scenarios.py --jobs $(JOBS) $(SCENARIOS)

.PHONY: test
test: lint sanity unit build molecule ## everything: lint, sanity, unit tests and the Molecule scenarios

.PHONY: demo
demo: setup lab ## boot the demo's DR lab (client, director, two real servers) and deploy a cluster to it
	PATH=$(CURDIR)/$(BIN):$$PATH tools/demo.sh up

.PHONY: demo-stop
demo-stop: setup ## stop the demo's lab and remove everything it left
	PATH=$(CURDIR)/$(BIN):$$PATH tools/demo.sh down

.PHONY: clean
clean: ## remove the build tree and the virtual environment
	rm -rf $(BUILD) $(VENV) .ansible tests/output
