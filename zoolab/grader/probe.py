"""Reachability probe, run *inside* a container (stdlib only, read from stdin).

    lxc-attach -n static -- python3 - '[["auth", "10.1.3.4", 8081], ...]' < probe.py

(targets may also be service-table rows: objects with name, host and port).

For every target it tries ICMP (the image's `ping`, one packet) and a TCP
connect to the target's port, all targets in parallel, and prints one JSON
object: {name: {"icmp": bool, "tcp": bool, "why": str}}.
"""

import json
import socket
import subprocess
import sys
import threading

TIMEOUT = 2.0


def icmp(host):
    try:
        out = subprocess.run(["ping", "-n", "-c", "1", "-W", str(int(TIMEOUT)), host],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             timeout=TIMEOUT + 2, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0


def tcp(host, port):
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT):
            return True, "connected"
    except OSError as err:
        return False, type(err).__name__ + ": " + str(err)


def main():
    targets = json.loads(sys.argv[1])
    results = {}

    def one(name, host, port):
        ok_tcp, why = tcp(host, port)
        results[name] = {"icmp": icmp(host), "tcp": ok_tcp, "why": why}

    def fields(t):  # [name, host, port] or a service-table row
        return (t["name"], t["host"], t["port"]) if isinstance(t, dict) else tuple(t)

    threads = [threading.Thread(target=one, args=fields(t)) for t in targets]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
