"""What the cluster scenarios' tests share: the lab's hosts, requests through the VIP, the kernel
state of a host, and runs of playbooks/site.yml as an operator makes them.

The scenario's inventory says what to expect: the first service of lvs_virtual_services gives
the VIP, the port, the forwarding method and the weights.
"""

import collections
import copy
import os
import sys

import testinfra.utils.ansible_runner

sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "molecule", "lab"))
import labtest  # noqa: E402  pylint: disable=wrong-import-position,unused-import

INVENTORY = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY)
DIRECTOR = RUNNER.get_hosts("lvs_directors")[0]
CLIENT = RUNNER.get_hosts("clients")[0]
REAL_SERVERS = RUNNER.get_hosts("lvs_real_servers")
VARS = RUNNER.get_variables(DIRECTOR)
MODEL = VARS["lvs_virtual_services"]
SERVICE = MODEL[0]
VIP, PORT, METHOD = SERVICE["vip"], SERVICE["port"], SERVICE["forwarding"]
WEIGHTS = {rs["host"]: rs.get("weight", 1) for rs in SERVICE["real_servers"]}
SITE = os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "molecule", "shared", "cluster", "converge.yml")


def host(name):
    return RUNNER.get_host(name)


def model():
    """A deep copy of the scenario's model, to change for one run."""
    return copy.deepcopy(MODEL)


def url(vip=VIP, port=PORT):
    return f"http://[{vip}]:{port}/" if ":" in vip else f"http://{vip}:{port}/"


def requests_through_vip(count, vip=VIP, port=PORT):
    """Send count requests from the client to the VIP, one connection each; return who answered."""
    out = host(CLIENT).check_output(
        f"for i in $(seq {count}); do curl -gsS --max-time 5 '{url(vip, port)}' || echo FAILED; echo; done")
    return collections.Counter(line for line in out.splitlines() if line)


def site_playbook(*options, inventory=INVENTORY, expect_success=True):
    """Run the scenario's converge playbook (playbooks/site.yml) as an operator would; return its output."""
    run = labtest.run_playbook(SITE, inventory, *options)
    output = run.stdout + run.stderr
    if expect_success:
        assert run.returncode == 0, output[-6000:]
    else:
        assert run.returncode != 0, output[-6000:]
    return output


# What the roles set on a host, read from the kernel and the file system.
KERNEL_STATE = {
    "IPVS table": "ipvsadm -Sn",
    "addresses": "ip -br address show",
    "policy rules": "ip -4 rule show; ip -6 rule show",
    "routes": "ip -4 route show table all; ip -6 route show table all",
    # All of IPVS's but sync_qlen_max, which the kernel derives from the memory free when ip_vs loads.
    "LVS sysctls": (r"sysctl -a 2>/dev/null | grep -E '^net\.ipv4\.vs\.|^net\.ipv4\.ip_forward|"
                    r"\.(arp_ignore|arp_announce|rp_filter|forwarding) ' | grep -v '^net\.ipv4\.vs\.sync_qlen_max ' "
                    r"| sort"),
}
# What the roles wrote: every file, unit and record, with its time of change.
FILES_STATE = {
    "files": ("ls -l --time-style=full-iso /etc/lvs /etc/systemd/system/lvs-* /usr/local/sbin/lvs-* "
              "/var/lib/lvs-ipvs /etc/sysctl.d /etc/modules-load.d 2>/dev/null || true"),  # some are missing
    "units": "systemctl list-unit-files 'lvs-*' --no-legend --no-pager",
}


def kernel_state(name):
    # Not ipvsadm on a real server: it would load ip_vs there.
    return {what: host(name).check_output(command) for what, command in KERNEL_STATE.items()
            if name == DIRECTOR or what != "IPVS table"}


def whole_state(name):
    """The kernel state and what the roles wrote on a host."""
    state = kernel_state(name)
    state.update((what, host(name).check_output(command)) for what, command in FILES_STATE.items())
    return state
