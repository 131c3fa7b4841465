#!/usr/bin/env python3
"""Stop the zoolab containers (or one); their data stays.

    ./zookstop.py [service] [-- ansible-playbook options]

A thin wrapper over playbooks/stop.yml (see zookld.py).
"""

import sys

from zookld import run_playbook, service_args


def main(argv=None) -> int:
    opts = service_args(__doc__.splitlines()[0], argv)
    return run_playbook("stop.yml", {"service": opts.service} if opts.service else None, opts.ansible_args)


if __name__ == "__main__":
    sys.exit(main())
