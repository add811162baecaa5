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
# The newest ansible-core release (requirements/unit-newest.txt), likewise. It needs Python 3.12 to 3.14
# on the controller, which Debian 12 does not ship: the newest such python3.N on PATH or among pyenv's
# versions, or PYTHON_NEWEST=/path/to/python3. Without one, its passes are skipped with a notice, and
# fail in CI (CI=true), where they must run.
ifeq ($(origin PYTHON_NEWEST),undefined)
PYTHON_NEWEST := $(shell tools/find-python.sh 3.12 3.14)
endif
NEWEST_VENV := $(VENV)/ansible-core-newest
ifneq ($(strip $(PYTHON_NEWEST)),)
NEWEST_UNIT := $(NEWEST_VENV)/.installed
NEWEST_SANITY := $(VENV)/sanity-newest/.installed
endif
NEWEST_MISSING := echo "== skipped: ansible-core $$(sed -n 's/^ansible-core==//p' requirements/unit-newest.txt) needs Python 3.12 to 3.14, and none was found (set PYTHON_NEWEST)"; \
  if [ "$${CI:-}" = true ]; then echo "CI must run every ansible-core pass"; exit 1; fi
# The version of ansible-core in a virtual environment's Python ($(1)), and that Python's version.
ANSIBLE_CORE_OF = $$($(1) -c 'import importlib.metadata as m; print(m.version("ansible-core"))')
PYTHON_VERSION_OF = $$($(1) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
# What a unit test pass runs with, for its header.
UNIT_VERSIONS := -c 'import importlib.metadata as m; print("ansible-core %s, pyroute2 %s" % (m.version("ansible-core"), m.version("pyroute2")))'
LAB := $(BIN)/python molecule/lab/lab.py
# Molecule scenarios that `make test` runs, JOBS at a time, each in a lab of its own; the
# longest first (ipvs_modules: every module option, four passes each, about 15 minutes).
SCENARIOS ?= ipvs_modules smoke real_server dr nat tun fullnat fullnat_iptables
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
# environment of their own so that they never change the tools' versions above, one for each
# ansible-core that `make sanity` runs: the pinned one, the lowest meta/runtime.yml claims and the
# newest, with their dependencies pinned as in their requirements file.
# $(1): the environment, $(2): the Python, $(3): the requirements file that pins its ansible-core.
define sanity_venv
	rm -rf $(1)
	$(2) -m venv $(1)
	$(1)/bin/pip install --quiet --disable-pip-version-check --upgrade pip
	$(1)/bin/pip install --quiet --disable-pip-version-check -c $(3) ansible-core
	touch $(1)/.installed
endef
SANITY_VENV := $(VENV)/sanity
$(SANITY_VENV)/.installed: requirements/controller.txt | $(BIN)/.installed
	$(call sanity_venv,$(SANITY_VENV),$(PYTHON),requirements/controller.txt)
$(VENV)/sanity-lowest/.installed: requirements/unit-lowest.txt | $(BIN)/.installed
	$(call sanity_venv,$(VENV)/sanity-lowest,$(PYTHON),requirements/unit-lowest.txt)
$(VENV)/sanity-newest/.installed: requirements/unit-newest.txt | $(BIN)/.installed
	$(call sanity_venv,$(VENV)/sanity-newest,$(PYTHON_NEWEST),requirements/unit-newest.txt)

# ansible-test sanity under the ansible-core of one of those environments ($(1)), on its Python;
# $(2): more arguments. ansible-test (without --venv) fetches a pip bootstrap script from outside
# the package registries unless its cache has one: tools/ansible_test_get_pip.py goes there, under
# the name of the pip version that ansible-core uses, before each run (HOME may differ between runs).
define run_sanity
	@echo "== ansible-test sanity, ansible-core $(call ANSIBLE_CORE_OF,$(1)/bin/python), Python $(call PYTHON_VERSION_OF,$(1)/bin/python)"
	pip_version=$$($(1)/bin/python -c 'from ansible_test._internal.python_requirements import get_venv_packages as g; \
	  from types import SimpleNamespace as N; print(g(N(version="")).get("pip"))'); \
	  mkdir -p ~/.ansible/test/cache; \
	  cp tools/ansible_test_get_pip.py ~/.ansible/test/cache/get_pip_$${pip_version//./_}.py
	start=$$SECONDS && cd $(TREE) && PATH=$(CURDIR)/$(1)/bin:$$PATH ansible-test sanity --requirements --color no \
	  --python $(call PYTHON_VERSION_OF,$(CURDIR)/$(1)/bin/python) $(2) && \
	  echo "== ansible-test sanity, ansible-core $(call ANSIBLE_CORE_OF,$(CURDIR)/$(1)/bin/python): passed in $$((SECONDS - start)) s"
endef

# Only what the unit tests need, all pinned; made once, like the environments above.
$(LOWEST_VENV)/.installed: requirements/unit-lowest.txt | $(BIN)/.installed
	$(PYTHON) -m venv $(LOWEST_VENV)
	$(LOWEST_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements/unit-lowest.txt
	touch $@
$(NEWEST_VENV)/.installed: requirements/unit-newest.txt | $(BIN)/.installed
	rm -rf $(NEWEST_VENV)
	$(PYTHON_NEWEST) -m venv $(NEWEST_VENV)
	$(NEWEST_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements/unit-newest.txt
	touch $@

.PHONY: tree
tree: | $(BIN)/.installed
	@tools/collection-tree.sh $(BUILD) >/dev/null

.PHONY: lint
lint: setup ## yamllint, ansible-lint (production profile) and the changelog's fragments and release notes
	$(BIN)/yamllint --strict .
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/ansible-lint --nocolor
	$(BIN)/antsibull-changelog lint
	$(BIN)/antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml
	@# CHANGELOG.rst is what changelogs/changelog.yaml gives: nobody edited one without the other.
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/antsibull-changelog generate --output $(BUILD)/CHANGELOG.rst
	@diff -u CHANGELOG.rst $(BUILD)/CHANGELOG.rst || \
	  { echo "lint: CHANGELOG.rst is not what changelogs/changelog.yaml gives; run antsibull-changelog generate"; exit 1; }

# At a release, after setting its version in galaxy.yml: the fragments in changelogs/fragments/
# become that release in changelogs/changelog.yaml and CHANGELOG.rst, and are removed.
.PHONY: changelog
changelog: setup ## at a release: turn the changelog fragments into the release of galaxy.yml's version
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/antsibull-changelog release

.PHONY: sanity
sanity: setup tree $(SANITY_VENV)/.installed $(VENV)/sanity-lowest/.installed $(NEWEST_SANITY) ## ansible-test sanity, with no ignore entries, under the pinned, the lowest claimed and the newest ansible-core
	@if ls tests/sanity/ignore-*.txt >/dev/null 2>&1; then echo "sanity: ignore files are not allowed"; exit 1; fi
	$(call run_sanity,$(SANITY_VENV))
	@# ansible-core 2.17 stopped requiring empty __init__.py files in module_utils, whose packages
	@# here hold a docstring only; 2.16 still does. The pinned and the newest run empty-init.
	$(call run_sanity,$(VENV)/sanity-lowest,--skip-test empty-init)
ifeq ($(NEWEST_SANITY),)
	@$(NEWEST_MISSING)
else
	$(call run_sanity,$(VENV)/sanity-newest)
endif

.PHONY: unit
unit: setup tree $(LOWEST_VENV)/.installed $(NEWEST_UNIT) ## unit tests (pinned ansible-core with pyroute2 0.9 and 0.7; the lowest claimed and the newest ansible-core), the tools'
	@claimed=$$(sed -n 's/^requires_ansible: *">= *\([0-9]*\.[0-9]*\)[^"]*"/\1/p' meta/runtime.yml); \
	  grep -q "^ansible-core==$${claimed//./\\.}\.[0-9]*$$" requirements/unit-lowest.txt || \
	  { echo "unit: requirements/unit-lowest.txt does not pin the ansible-core $${claimed:-?} that meta/runtime.yml claims"; exit 1; }
	@echo "== unit tests, $$($(BIN)/python $(UNIT_VERSIONS))"
	cd $(TREE) && PYTHONPATH=$(CURDIR)/$(BUILD) $(CURDIR)/$(BIN)/pytest -p no:cacheprovider tests/unit
	@echo "== unit tests, $$(PYTHONPATH=$(PYROUTE2_OLD_DIR) $(BIN)/python $(UNIT_VERSIONS))"
	cd $(TREE) && PYTHONPATH=$(CURDIR)/$(PYROUTE2_OLD_DIR):$(CURDIR)/$(BUILD) $(CURDIR)/$(BIN)/pytest -p no:cacheprovider tests/unit
	@echo "== unit tests, $$($(LOWEST_VENV)/bin/python $(UNIT_VERSIONS)) (the lowest meta/runtime.yml claims)"
	cd $(TREE) && PYTHONPATH=$(CURDIR)/$(BUILD) $(CURDIR)/$(LOWEST_VENV)/bin/pytest -p no:cacheprovider tests/unit
ifeq ($(NEWEST_UNIT),)
	@$(NEWEST_MISSING)
else
	@echo "== unit tests, $$($(NEWEST_VENV)/bin/python $(UNIT_VERSIONS)) (the newest release, Python $(call PYTHON_VERSION_OF,$(NEWEST_VENV)/bin/python))"
	cd $(TREE) && PYTHONPATH=$(CURDIR)/$(BUILD) $(CURDIR)/$(NEWEST_VENV)/bin/pytest -p no:cacheprovider tests/unit
endif
	@echo "== unit tests of the lab tool and the build's tarball check"
	$(BIN)/pytest -p no:cacheprovider molecule/lab/tests tools/tests

.PHONY: build
build: setup $(LOWEST_VENV)/.installed $(NEWEST_UNIT) ## build the collection tarball into .build/, check what it holds, install it apart and use it (pinned, lowest and newest ansible-core)
	rm -rf $(BUILD)/dist $(BUILD)/installed $(BUILD)/installed-lowest $(BUILD)/installed-newest
	$(BIN)/ansible-galaxy collection build --output-path $(BUILD)/dist .
	$(BIN)/python tools/check_collection_tarball.py $(BUILD)/dist/lvs-ipvs-*.tar.gz
	tools/check_installed_collection.sh $(BIN) $(BUILD)/dist/lvs-ipvs-*.tar.gz $(BUILD)/installed
	tools/check_installed_collection.sh $(LOWEST_VENV)/bin $(BUILD)/dist/lvs-ipvs-*.tar.gz $(BUILD)/installed-lowest
ifeq ($(NEWEST_UNIT),)
	@$(NEWEST_MISSING)
else
	tools/check_installed_collection.sh $(NEWEST_VENV)/bin $(BUILD)/dist/lvs-ipvs-*.tar.gz $(BUILD)/installed-newest
endif
	@placeholders=$$(grep -rlE 'example\.invalid|MAINTAINER_GITHUB_HANDLE' galaxy.yml plugins | xargs); \
	  if [ -n "$$placeholders" ]; then echo "build: before publishing, fill in the placeholders in: $$placeholders"; fi

.PHONY: lab
lab: setup ## build (or reuse) the lab's UML kernel and base image
	$(LAB) build

.PHONY: molecule
molecule: setup lab ## the Molecule scenarios in lab VMs (SCENARIOS="a b", JOBS=n)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python tools/run_scenarios.py --jobs $(JOBS) $(SCENARIOS)

# `make test` builds the lab (or finds it built) in the background, while lint, sanity, the unit tests
# and the tarball run: the kernel's compile wants both cores for about 8 minutes and debootstrap waits
# for the network, while those mostly keep one core busy. The scenarios start when both are done. Each
# step prints how long it took.
LAB_LOG := $(BUILD)/lab-build.log
.PHONY: test
test: setup ## everything: lint, sanity, unit tests, the tarball, and the Molecule scenarios
	@mkdir -p $(BUILD); echo "== make lab: in the background, its output in $(LAB_LOG)"
	@start=$$SECONDS; setsid $(LAB) build >$(LAB_LOG) 2>&1 & lab=$$!; \
	  trap 'kill -- -$$lab 2>/dev/null || true' EXIT; \
	  for step in lint sanity unit build; do \
	    begin=$$SECONDS; $(MAKE) --no-print-directory $$step || exit 1; echo "== make $$step: $$((SECONDS - begin)) s"; \
	  done; \
	  wait $$lab || { tail -n 40 $(LAB_LOG); echo "test: the lab build failed; its output is in $(LAB_LOG)"; exit 1; }; \
	  trap - EXIT; echo "== make lab: done $$((SECONDS - start)) s after it started"; tail -n 3 $(LAB_LOG)
	@begin=$$SECONDS; $(MAKE) --no-print-directory molecule; echo "== make molecule: $$((SECONDS - begin)) s"

.PHONY: demo
demo: setup lab ## boot the demo's DR lab (client, director, two real servers) and deploy a cluster to it
	PATH=$(CURDIR)/$(BIN):$$PATH tools/demo.sh up

.PHONY: demo-stop
demo-stop: setup ## stop the demo's lab and remove everything it left
	PATH=$(CURDIR)/$(BIN):$$PATH tools/demo.sh down

.PHONY: clean
clean: ## remove the build tree and the virtual environment
	rm -rf $(BUILD) $(VENV) .ansible tests/output
