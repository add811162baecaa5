# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The filter that reads the cluster model for one real server."""

from __future__ import annotations

from ansible_collections.lvs.ipvs.plugins.plugin_utils._real_server_model import real_server_setup


class FilterModule:
    """The real server filters."""

    def filters(self):
        return {
            'real_server_setup': real_server_setup,
        }
