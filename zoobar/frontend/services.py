"""The front end's RPC clients, and what a refusal from one of them says."""

from __future__ import annotations

from zoobar import rpc

AUTH_TIMEOUT = 30.0     # a registration hashes k sweetwords; a few may wait in line


def auth() -> rpc.Client:
    return rpc.client("auth", timeout=AUTH_TIMEOUT)


def bank() -> rpc.Client:
    return rpc.client("bank")


def profilestore() -> rpc.Client:
    return rpc.client("profilestore")


def refusal(err: rpc.RemoteError) -> str:
    """The message of a refusal (an answer for the visitor); anything else goes on up."""
    if err.type != rpc.REFUSED:
        raise err
    return err.message
