"""The monolithic baseline: the zoobar front end with its services in-process.

The same Flask application (``zoobar.wsgi``) and the same service classes as the
privilege-separated site, but every service the front end calls is hosted in
the front end's own process (``bench/inprocess.py``), so an RPC is a method
call: no socket, no JSON, no other process. Served by gunicorn with the front
end's worker and thread counts (``bench.benchlib.monolith``):

    gunicorn ... bench.monolith:app

The profile service (sandboxed profile runs) is not hosted: the dynamic and
transfer benchmarks view users whose profiles are plain text.
"""

from __future__ import annotations

from bench import inprocess
from zoobar.services import auth, bank, echo, honeychecker, profilestore

# auth keeps clients for the honeychecker and the bank from its constructor on,
# so those are hosted first.
for _name, _module in (("honeychecker", honeychecker), ("bank", bank),
                       ("profilestore", profilestore), ("echo", echo), ("auth", auth)):
    inprocess.host(_module.make_service(), _name)

from zoobar.wsgi import app  # noqa: E402

__all__ = ["app"]
