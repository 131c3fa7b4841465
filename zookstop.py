#!/usr/bin/env python3
"""Stop the zoolab containers (or one); their data stays.

./zookstop.py [service] [-- ansible-playbook options]: a thin wrapper over playbooks/stop.yml.
"""
import sys

from zoolab.playbooks import wrapper

if __name__ == "__main__":
    sys.exit(wrapper("stop.yml", __doc__))
