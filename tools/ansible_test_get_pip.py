# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Stand-in for the pip bootstrap script that ansible-test downloads.

ansible-test fetches ``get-pip-<version>.py`` from a host outside the package
registries, which this project's machines cannot reach. It caches that script
as ``~/.ansible/test/cache/get_pip_<version>.py`` and runs it inside a fresh
virtual environment with arguments such as
``--disable-pip-version-check pip==24.2 --no-setuptools --no-wheel``.
The Makefile puts this file in that place: it bootstraps pip from the
interpreter's own ``ensurepip`` and then installs the requested pip from PyPI.
"""

from __future__ import annotations

import ensurepip
import os
import subprocess
import sys

GET_PIP_ONLY_OPTIONS = ('--no-setuptools', '--no-wheel')


def main() -> None:
    """Bootstrap pip, then install what ansible-test asked for."""
    # ensurepip points PIP_CONFIG_FILE at /dev/null in this process; the install
    # from PyPI must see the machine's pip configuration (an index, a CA bundle).
    environment = os.environ.copy()
    ensurepip.bootstrap(upgrade=True)
    arguments = [argument for argument in sys.argv[1:] if argument not in GET_PIP_ONLY_OPTIONS]
    subprocess.check_call([sys.executable, '-m', 'pip', 'install'] + arguments, env=environment)


if __name__ == '__main__':
    main()
