# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters that read the cluster model, lvs_virtual_services, for the roles."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.lvs.ipvs.plugins.plugin_utils import _cluster_model as model


def _wrap(function):
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except model.ModelError as error:
            raise AnsibleFilterError(str(error)) from error
    wrapper.__name__ = function.__name__
    wrapper.__doc__ = function.__doc__
    return wrapper


class FilterModule:
    """The cluster model filters."""

    def filters(self):
        return {
            'director_view': _wrap(model.director_view),
        }
