#!/usr/bin/env python3
"""Show the zoolab containers: state, address, bridge, supervised process, uptime.

    ./zookps.py [service] [-- ansible-playbook options]

A thin wrapper over playbooks/status.yml (see zookld.py).
"""

import sys

from zookld import run_playbook, service_args


def main(argv=None) -> int:
    opts = service_args(__doc__.splitlines()[0], argv)
    return run_playbook("status.yml", {"service": opts.service} if opts.service else None, opts.ansible_args)


if __name__ == "__main__":
    sys.exit(main())
