"""RPC services, one module each; ``zoobar.serve`` calls their ``make_service()``."""
