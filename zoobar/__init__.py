"""zoobar: the privilege-separated zoobar application (front end, RPC services, sandbox)."""
