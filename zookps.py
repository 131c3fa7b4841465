#!/usr/bin/env python3
"""Show the zoolab containers: state, address, bridge, supervised process, uptime.

./zookps.py [service] [-- ansible-playbook options]: a thin wrapper over playbooks/status.yml.
"""
import sys

from zoolab.playbooks import wrapper

if __name__ == "__main__":
    sys.exit(wrapper("status.yml", __doc__))
