# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tools/check_collection_tarball.py: what a collection tarball may hold and must hold."""

from __future__ import annotations

import io
import os
import sys
import tarfile

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))

import check_collection_tarball as check  # noqa: E402  pylint: disable=wrong-import-position

USER_FILES = ['MANIFEST.json', 'FILES.json', 'README.md', 'LICENSE', 'CHANGELOG.rst', 'changelogs/changelog.yaml',
              'meta/runtime.yml', 'playbooks/site.yml', 'plugins/modules/ipvs_table.py',
              'roles/director/tasks/main.yml']


def make_tarball(tmp_path, files):
    path = tmp_path / 'lvs-ipvs-0.1.0.tar.gz'
    with tarfile.open(path, 'w:gz') as tar:
        directory = tarfile.TarInfo('plugins')  # directories are not files: not listed, not checked
        directory.type = tarfile.DIRTYPE
        tar.addfile(directory)
        for name in files:
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(b'x'))
    return str(path)


@pytest.fixture(name='source')
def source_fixture(tmp_path):
    """A collection source that is not a git work tree: its files are what it holds."""
    source = tmp_path / 'source'
    for name in ['plugins/modules/ipvs_table.py', 'roles/director/tasks/main.yml', 'playbooks/site.yml',
                 'meta/runtime.yml', 'plugins/modules/__pycache__/ipvs_table.cpython-311.pyc']:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text('x')
    return str(source)


def run(tmp_path, source, files, capsys):
    code = check.main(['check', make_tarball(tmp_path, files), source])
    return code, capsys.readouterr().out


def test_a_tarball_with_what_users_need_passes_and_is_listed(tmp_path, source, capsys):
    code, out = run(tmp_path, source, USER_FILES, capsys)
    assert code == 0
    assert 'holds 10 files:' in out and '  plugins/modules/ipvs_table.py\n' in out


@pytest.mark.parametrize('extra', ['tools/demo.sh', 'tests/unit/test_x.py', 'molecule/dr/molecule.yml', 'Makefile',
                                   '.ansible-lint', '.config/molecule/config.yml', 'changelogs/fragments/1-x.yml',
                                   'requirements/controller.txt', 'changelogs/config.yaml'])
def test_a_development_file_fails(tmp_path, source, capsys, extra):
    code, out = run(tmp_path, source, USER_FILES + [extra], capsys)
    assert code == 1
    assert '%s is development-only' % extra in out


def test_an_unknown_file_fails(tmp_path, source, capsys):
    code, out = run(tmp_path, source, USER_FILES + ['notes.txt'], capsys)
    assert code == 1 and 'notes.txt is not known to be for users' in out


@pytest.mark.parametrize('missing', ['CHANGELOG.rst', 'FILES.json', 'plugins/modules/ipvs_table.py',
                                     'roles/director/tasks/main.yml'])
def test_a_missing_user_file_fails(tmp_path, source, capsys, missing):
    code, out = run(tmp_path, source, [name for name in USER_FILES if name != missing], capsys)
    assert code == 1 and '%s is missing: users need it.' % missing in out
