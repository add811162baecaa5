# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_pyroute2.preload: the real-server modules get the parts of pyroute2 they
use without the package __init__ (which imports all of pyroute2), and fall
back to the ordinary import when that does not work.  Each case runs in a
fresh interpreter, since this test process has pyroute2 loaded already.
(The IPVS modules import no pyroute2 at all: see test_ipvs_netlink.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip('pyroute2')


def _run(code, extra_path=None):
    env = dict(os.environ)
    path = [entry for entry in sys.path if entry]
    if extra_path:
        path.insert(0, extra_path)
    env['PYTHONPATH'] = os.pathsep.join(path)
    done = subprocess.run([sys.executable, '-c', textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_rs_host_loads_without_the_rest_of_pyroute2():
    found = _run('''
        import json, sys
        from ansible_collections.lvs.ipvs.plugins.module_utils._rs import host as _rs_host
        print(json.dumps(dict(
            has=_rs_host.HAS_PYROUTE2,
            iproute=_rs_host.IPRoute.__module__,
            ndb='pyroute2.ndb' in sys.modules,
            generic=_rs_host.GenericNetlinkSocket.__module__,
            message=_rs_host.genlmsg.__name__,
        )))
    ''')
    assert found['has'] is True
    # The package __init__ (which imports NDB among the rest) did not run.
    assert found['ndb'] is False
    assert found['iproute'].startswith('pyroute2.iproute')
    assert found['generic'].startswith('pyroute2.netlink')
    assert found['message'] == 'genlmsg'


def test_a_caller_that_imported_pyroute2_keeps_it():
    found = _run('''
        import json, pyroute2
        whole = pyroute2
        from ansible_collections.lvs.ipvs.plugins.module_utils._rs import host as _rs_host
        import pyroute2 as again
        print(json.dumps(dict(same=again is whole, iproute=hasattr(again, 'IPRoute'), has=_rs_host.HAS_PYROUTE2)))
    ''')
    assert found == {'same': True, 'iproute': True, 'has': True}


def test_both_module_families_in_one_process():
    # The IPVS helper loads no pyroute2; the rs modules' helper after it still gets it.
    found = _run('''
        import json, sys
        from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs import netlink  # noqa: F401
        before = 'pyroute2' in sys.modules
        from ansible_collections.lvs.ipvs.plugins.module_utils._rs import host as _rs_host
        print(json.dumps(dict(before=before, rs=_rs_host.HAS_PYROUTE2)))
    ''')
    assert found == {'before': False, 'rs': True}


def test_falls_back_to_the_whole_package_when_a_submodule_needs_it(tmp_path):
    # A made-up release whose netlink package only works after the package __init__ ran.
    package = tmp_path / 'pyroute2'
    (package / 'netlink').mkdir(parents=True)
    (package / '__init__.py').write_text('INITIALISED = True\n')
    (package / 'netlink' / '__init__.py').write_text('import pyroute2\nassert pyroute2.INITIALISED\nVALUE = 1\n')
    found = _run('''
        import json, sys
        from ansible_collections.lvs.ipvs.plugins.module_utils._pyroute2 import preload
        preload('pyroute2.netlink')
        import pyroute2, pyroute2.netlink
        print(json.dumps(dict(init=getattr(pyroute2, 'INITIALISED', False), value=pyroute2.netlink.VALUE)))
    ''', extra_path=str(tmp_path))
    assert found == {'init': True, 'value': 1}


def test_missing_pyroute2_raises_import_error():
    found = _run('''
        import json, sys
        class Hide:
            def find_spec(self, name, path=None, target=None):
                if name == 'pyroute2' or name.startswith('pyroute2.'):
                    raise ImportError('hidden: ' + name)
        sys.meta_path.insert(0, Hide())
        from ansible_collections.lvs.ipvs.plugins.module_utils._rs import host as _rs_host
        from ansible_collections.lvs.ipvs.plugins.module_utils._pyroute2 import missing_message
        print(json.dumps(dict(has=_rs_host.HAS_PYROUTE2, error=str(_rs_host.PYROUTE2_IMPORT_ERROR),
                              message=missing_message(), python=sys.executable)))
    ''')
    assert found['has'] is False
    assert 'pyroute2' in found['error']
    # The message names the package by Debian's name and by pip's, and the interpreter without it.
    assert 'install the Debian package python3-pyroute2' in found['message']
    assert 'pyroute2 from PyPI (pip install pyroute2)' in found['message']
    assert '(%s)' % found['python'] in found['message']
