# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Check what a built collection tarball holds, for `make build`.

Prints every file of the tarball, then fails (exit 1) when it holds a file that
serves development or tests, a file that is not known to be for users, or when
a file a user needs is missing: the collection's metadata, README, LICENSE and
changelog, and every file git tracks under plugins/, roles/, playbooks/ and
meta/.

    python tools/check_collection_tarball.py TARBALL [SOURCE_DIR]
"""

from __future__ import annotations

import fnmatch
import os
import subprocess
import sys
import tarfile

# Files a user needs at the top of the collection, besides the trees below.
REQUIRED_FILES = (
    'MANIFEST.json',
    'FILES.json',
    'README.md',
    'LICENSE',
    'CHANGELOG.rst',
    'changelogs/changelog.yaml',
    'meta/runtime.yml',
    'playbooks/site.yml',
)
# Trees whose every tracked file a user needs.
REQUIRED_TREES = ('plugins/', 'roles/', 'playbooks/', 'meta/')
# Everything the tarball may hold: the files above and the trees below (docs/ for
# documentation the collection may add). Anything else is refused, so that a new
# development file cannot slip in because nobody listed it in build_ignore.
ALLOWED_FILES = frozenset(REQUIRED_FILES)
ALLOWED_TREES = REQUIRED_TREES + ('docs/',)
# What serves development or tests, with the reason the error gives.
DEVELOPMENT_ONLY = (
    ('.ansible-lint', 'lint configuration'),
    ('.yamllint', 'lint configuration'),
    ('.gitignore', 'git configuration'),
    ('.config/*', 'Molecule configuration'),
    ('.ci/*', 'CI entry point'),
    ('.github/*', 'CI configuration'),
    ('Makefile', 'development entry point'),
    ('requirements/*', 'pinned development tools'),
    ('tools/*', 'development and test tools'),
    ('tests/*', 'ansible-test unit tests'),
    ('molecule/*', 'Molecule scenarios and their lab'),
    ('benchmarks/*', 'benchmarks'),
    ('changelogs/fragments/*', 'changelog fragments'),
    ('changelogs/config.yaml', 'antsibull-changelog configuration'),
    ('changelogs/.plugin-cache.yaml', 'antsibull-changelog cache'),
    ('.build/*', 'build output'),
    ('.venv*', 'virtual environment'),
    ('.ansible/*', 'ansible-lint cache'),
    ('.cache/*', 'cache'),
    ('*.tar.gz', 'a built tarball'),
    ('*/__pycache__/*', 'Python byte code'),
    ('*.pyc', 'Python byte code'),
)
IGNORED_IN_SOURCE = ('*/__pycache__/*', '*.pyc')


def tarball_files(path):
    """The regular files of the tarball, as paths relative to the collection."""
    with tarfile.open(path) as tar:
        return sorted(member.name[2:] if member.name.startswith('./') else member.name
                      for member in tar.getmembers() if not member.isdir())


def source_files(source_dir):
    """The files under REQUIRED_TREES that the collection's source holds: what git tracks,
    or every file when the source is not a git work tree."""
    try:
        listed = subprocess.run(['git', '-C', source_dir, 'ls-files', '--', *REQUIRED_TREES], check=True,
                                capture_output=True, text=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        listed = []
        for tree in REQUIRED_TREES:
            for root, _dirs, files in os.walk(os.path.join(source_dir, tree)):
                listed += [os.path.relpath(os.path.join(root, name), source_dir) for name in files]
    return sorted(path for path in listed
                  if not any(fnmatch.fnmatch(path, pattern) for pattern in IGNORED_IN_SOURCE)
                  and os.path.isfile(os.path.join(source_dir, path)))


def problems(files, expected_files):
    """Sentences about what the tarball should not hold or lacks; none when it is right."""
    found = []
    present = set(files)
    for path in files:
        reason = next((why for pattern, why in DEVELOPMENT_ONLY if fnmatch.fnmatch(path, pattern)), None)
        if reason:
            found.append('%s is development-only (%s): add it to build_ignore in galaxy.yml.' % (path, reason))
        elif path not in ALLOWED_FILES and not path.startswith(ALLOWED_TREES):
            found.append('%s is not known to be for users: add it to build_ignore in galaxy.yml, or, if users need '
                         'it, to the allowed files in %s.' % (path, os.path.basename(__file__)))
    for path in list(REQUIRED_FILES) + [path for path in expected_files if path not in REQUIRED_FILES]:
        if path not in present:
            found.append('%s is missing: users need it.' % path)
    return found


def main(argv):
    if len(argv) not in (2, 3):
        sys.stderr.write(__doc__)
        return 2
    tarball = argv[1]
    source_dir = argv[2] if len(argv) == 3 else '.'
    files = tarball_files(tarball)
    print('%s holds %d files:' % (tarball, len(files)))
    for path in files:
        print('  ' + path)
    found = problems(files, source_files(source_dir))
    for sentence in found:
        print('check_collection_tarball: ' + sentence)
    if found:
        print('check_collection_tarball: %d problem(s)' % len(found))
        return 1
    print('check_collection_tarball: no development-only file, nothing a user needs is missing')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
