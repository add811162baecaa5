# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Both roles read one model, so both carry one schema of it.

``lvs_virtual_services`` is documented and validated by each role's meta/argument_specs.yml (a
role's spec cannot include another file). The director role's copy is the source; the real_server
role must carry it unchanged, and every role variable must be in its spec and its defaults.
"""

from __future__ import annotations

import os

import pytest
import yaml

from ansible_collections.lvs.ipvs.plugins.module_utils import _vocabulary as vocabulary

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
ROLES = ('director', 'real_server')
SHARED = 'lvs_virtual_services'


def spec(role):
    with open(os.path.join(ROOT, 'roles', role, 'meta', 'argument_specs.yml')) as handle:
        return yaml.safe_load(handle)['argument_specs']['main']['options']


def defaults(role):
    with open(os.path.join(ROOT, 'roles', role, 'defaults', 'main.yml')) as handle:
        return yaml.safe_load(handle) or {}


def test_both_roles_carry_the_same_model_schema():
    director, real_server = spec('director')[SHARED], spec('real_server')[SHARED]
    assert real_server == director, (
        'roles/real_server/meta/argument_specs.yml must carry lvs_virtual_services exactly as '
        'roles/director/meta/argument_specs.yml does; copy the director role\'s entry')


@pytest.mark.parametrize('role', ROLES)
def test_every_role_variable_is_documented_with_its_default(role):
    options = spec(role)
    values = defaults(role)
    own = set(name for name in options if name != SHARED)
    assert own == set(values), 'spec and defaults list different variables: %s' % sorted(own ^ set(values))
    for name in own:
        assert options[name].get('default') == values[name], name
        assert options[name].get('description'), name


def test_the_model_schema_speaks_the_collections_one_vocabulary():
    service = spec('director')[SHARED]['options']
    real_server = service['real_servers']['options']
    assert service['scheduler']['choices'] == list(vocabulary.SCHEDULERS)
    assert service['scheduler']['default'] == vocabulary.DEFAULT_SCHEDULER
    assert sorted(service['protocol']['choices']) == sorted(vocabulary.PROTOCOLS)
    assert service['forwarding']['choices'] == list(vocabulary.MODEL_FORWARDING)
    assert sorted(service['family']['choices']) == sorted(vocabulary.FAMILIES)
    assert service['persistence_engine']['choices'] == list(vocabulary.PERSISTENCE_ENGINES)
    assert real_server['tunnel_type']['choices'] == list(vocabulary.TUNNEL_TYPES)
    assert real_server['tunnel_checksum']['choices'] == list(vocabulary.TUNNEL_CHECKSUMS)


@pytest.mark.parametrize('role', ROLES)
def test_no_task_hides_its_failure(role):
    """ignore_errors (in check mode or not) hid real failures; a task that may not apply says so with when:."""
    folder = os.path.join(ROOT, 'roles', role)
    offenders = []
    for directory in ('tasks', 'handlers'):
        for name in sorted(os.listdir(os.path.join(folder, directory))):
            with open(os.path.join(folder, directory, name)) as handle:
                offenders += ['%s/%s: %s' % (directory, name, task.get('name')) for task in _tasks(yaml.safe_load(handle))
                              if 'ignore_errors' in task]
    assert offenders == []


def _tasks(tasks):
    for task in tasks or []:
        yield task
        for key in ('block', 'rescue', 'always'):
            yield from _tasks(task.get(key))
