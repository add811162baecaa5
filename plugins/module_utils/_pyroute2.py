# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Import the parts of pyroute2 the collection uses, without the rest of it.

This file is private to the lvs.ipvs collection: its contents may change
without notice and must not be imported from outside the collection.

Only the real-server modules use pyroute2 (rtnetlink through its IPRoute,
in _rs.host); the IPVS modules speak generic netlink with the standard
library alone (_ipvs.netlink) and import nothing of it.

``import pyroute2.netlink.generic`` first runs the package's ``__init__``.
In pyroute2 0.7 (Debian 12's python3-pyroute2) that reads the entry points of
every installed distribution and imports the whole library (IPRoute, NDB,
IPDB, conntrack, ...): 1.2 to 2 seconds of every module run on a small VM,
for code the modules never call.  The submodules the collection uses do not
need it, so ``preload`` imports them below a bare package object instead:
the package's own spec, made into a module without running its code.  If that
fails (a release whose submodules rely on the ``__init__``), every trace of it
is removed and the modules are imported the ordinary way.  Where pyroute2
is imported already (by the caller, or the tests), nothing changes.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

PACKAGE = 'pyroute2'
# Set on the bare package object so that a second preload recognises it.
_BARE = '_lvs_ipvs_bare_package'
# What a module that needs pyroute2 fails with when it is missing: the names to install it by,
# as Debian's package manager and pip know it, and the interpreter that lacks it.
MISSING = ('pyroute2 (0.7.2 or later) is missing from the Python that runs the module on the managed host ({python}): '
           'install the Debian package python3-pyroute2, or pyroute2 from PyPI (pip install pyroute2), or point '
           'ansible_python_interpreter at a Python that has it.')


def missing_message():
    """The error message for a managed host whose Python has no pyroute2."""
    return MISSING.format(python=sys.executable or 'python3')


def _forget():
    for name in [name for name in sys.modules if name == PACKAGE or name.startswith(PACKAGE + '.')]:
        del sys.modules[name]


def _install_bare_package():
    """Put the bare package in sys.modules; False when pyroute2 is not there."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return False
    if spec is None or not spec.submodule_search_locations:
        return False
    package = importlib.util.module_from_spec(spec)
    setattr(package, _BARE, True)
    sys.modules[PACKAGE] = package
    return True


def preload(*names):
    """Import the pyroute2 submodules ``names`` (for example
    ``'pyroute2.netlink.generic'``), so that the ``from pyroute2... import``
    statements that follow find them loaded.  Raises ImportError when
    pyroute2 is missing."""
    loaded = sys.modules.get(PACKAGE)
    if loaded is None or getattr(loaded, _BARE, False):
        if loaded is not None or _install_bare_package():
            try:
                for name in names:
                    importlib.import_module(name)
                return
            except Exception:  # pylint: disable=broad-except  # any failure: fall back to the whole package
                _forget()
    for name in names:
        importlib.import_module(name)
