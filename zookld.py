#!/usr/bin/env python3
"""Start the zoolab site, as the course's handout says: ./zookld.py [service]

Without a service: provision everything (playbooks/site.yml: host, base image,
binaries, application, one unprivileged container per service) and start it.
With one: provision and start just that service's container.
./zookld.py [service] [-- ansible-playbook options]: a thin wrapper (zoolab.playbooks).
"""
import sys

from zoolab.playbooks import wrapper

if __name__ == "__main__":
    sys.exit(wrapper("site.yml", __doc__))
