# Copyright: (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lvs.ipvs VM lab, one module per concern; `molecule/lab/lab.py` is its command line.

common     errors, log, commands, locks, hashes, files
kernel     the UML kernel, built from Debian's kernel source and cached
mirror     the Debian mirror, from LVS_LAB_MIRROR or the host's apt sources
image      the VMs' base image, cached
topology   a lab's VMs, interfaces, segments, addresses and routes, validated
state      run directories (per checkout) and a lab's state file
segments   the userspace switches of a lab's segments
processes  a lab's processes, found from /proc, and stopping them
ports      the VMs' loopback ports, shared by every checkout
ssh        ssh to a VM
vm         VM command lines and processes, booting until ssh answers
inventory  the Ansible inventory, ansible.cfg and Molecule's instance config
reboot     rebooting VMs, and rescuing UML's rare reboot hang
lifecycle  up and down
prune      removing cache entries nothing uses
"""
