# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters that read the cluster model, lvs_virtual_services, for the roles."""

from __future__ import annotations

from ansible_collections.lvs.ipvs.plugins.plugin_utils import _cluster_model as model


class FilterModule:
    """The cluster model filters."""

    def filters(self):
        return {
            'director_view': model.director_view,
            'cluster_problems': model.cluster_problems,
        }
