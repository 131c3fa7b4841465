"""The echo service: a test service the front end's ``echo?s=`` page goes through."""

from zoobar import rpc


class Echo(rpc.Service):
    name = "echo"

    @rpc.method(callers={"dynamic"})
    def echo(self, s: str) -> str:
        return s


def make_service() -> Echo:
    return Echo()
