#!/usr/bin/env python3
"""Remove what zoolab made on this machine (or one service's container and data).

./zookclean.py [service] [-- ansible-playbook options]: a thin wrapper over playbooks/clean.yml.
"""
import sys

from zoolab.playbooks import wrapper

if __name__ == "__main__":
    sys.exit(wrapper("clean.yml", __doc__))
