#!/usr/bin/env python3
"""Remove what zoolab made on this machine (or one service's container and data).

    ./zookclean.py [service] [-- ansible-playbook options]

A thin wrapper over playbooks/clean.yml (see zookld.py).
"""

import sys

from zookld import run_playbook, service_args


def main(argv=None) -> int:
    opts = service_args(__doc__.splitlines()[0], argv)
    return run_playbook("clean.yml", {"service": opts.service} if opts.service else None, opts.ansible_args)


if __name__ == "__main__":
    sys.exit(main())
