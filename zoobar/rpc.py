"""The RPC library every zoobar service and client uses (the only RPC code).

Wire format: ``zoobar.wire`` (JSON lines): one request per line,
``[method, {kwargs}]``, answered by one line, ``{"ok": result}`` or
``{"error": {"type": ..., "message": ...}}``. A connection may carry many
requests in turn; only a complete line (ending in its newline) is a request.
An oversized line is refused and skipped.

The server learns who is calling from the peer address: it looks the address up
among the ``host`` values of zook.conf, so the caller is a section name (or None
for an address no section has). Each method declares which callers it accepts:

    class Echo(rpc.Service):
        name = "echo"

        @rpc.method(callers={"dynamic"})
        def echo(self, s: str) -> str:
            return s

    rpc.serve(Echo(), conf_path, "echo")

Clients bind their source address to their own section's host, so the server
identifies them the same way on loopback (local mode) and in containers:

    rpc.client("echo").call("echo", s="hi")
"""

from __future__ import annotations

import functools
import inspect
import os
import select
import socket
import socketserver
import sys
import threading
import traceback
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor

from zoobar import wire, zookconf
from zoobar.wire import (BAD_REQUEST, FORBIDDEN, INTERNAL, MAX_LINE,  # noqa: F401 - re-exported
                         NO_SUCH_METHOD, REFUSED, TOO_LARGE, TYPE_ERROR)

CONNECT_TIMEOUT = 3.0        # seconds
READ_TIMEOUT = 10.0          # seconds a client waits for a reply
IDLE_TIMEOUT = 120.0         # seconds a server keeps a silent connection


class RpcError(Exception):
    """Base of what a client call can raise."""


class RemoteError(RpcError):
    """The service answered with an error (``type`` is one of ``zoobar.wire``'s names)."""

    def __init__(self, type: str, message: str):
        super().__init__(f"{type}: {message}")
        self.type = type
        self.message = message


class RpcUnavailable(RpcError):
    """The service could not be reached or did not answer in time."""


class Refused(Exception):
    """Raised by a method to refuse the request; the caller gets type ``Refused``."""


# ---------------------------------------------------------------------------
# Server side

_request = threading.local()


def caller() -> str | None:
    """Inside a method: the zook.conf section the current request comes from."""
    return getattr(_request, "caller", None)


def method(callers: Iterable[str]) -> Callable:
    """Mark a Service method as callable over RPC by the named sections only."""
    if isinstance(callers, str):
        raise TypeError("callers must be a collection of section names, not one string")
    allowed = frozenset(callers)

    def mark(func: Callable) -> Callable:
        func._rpc_callers = allowed
        return func

    return mark


class Service:
    """Base class of RPC services: subclasses set ``name`` and mark methods."""

    name = "service"


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp)


def _matches(value, tp) -> bool:
    if tp is typing.Any or tp is inspect.Parameter.empty:
        return True
    if tp is None or tp is type(None):
        return value is None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(tp))
    if origin is not None:
        if not isinstance(value, origin):
            return False
        args = typing.get_args(tp)
        if origin is list and args:
            return all(_matches(v, args[0]) for v in value)
        if origin is dict and len(args) == 2:
            return all(_matches(k, args[0]) and _matches(v, args[1]) for k, v in value.items())
        return True
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(tp, type):
        return isinstance(value, tp)
    return True


class _Method:
    """A marked method of a Service class: who may call it, and what it takes."""

    def __init__(self, func: Callable, callers: frozenset[str]):
        self.func = func
        self.callers = callers
        signature = inspect.signature(func)
        # as called on an instance: without ``self``
        self.signature = signature.replace(parameters=list(signature.parameters.values())[1:])
        self.hints = typing.get_type_hints(func)

    def check_args(self, kwargs: dict) -> None:
        try:
            self.signature.bind(**kwargs)
        except TypeError as err:
            raise TypeError(str(err)) from None
        for name, value in kwargs.items():
            tp = self.hints.get(name, inspect.Parameter.empty)
            if not _matches(value, tp):
                raise TypeError(f"argument {name!r} must be {_type_name(tp)}, "
                                f"not {type(value).__name__}")


@functools.cache
def _methods_of(cls: type) -> Mapping[str, _Method]:
    """A Service class's marked methods, by name: worked out once per class
    (signatures and type hints are costly, and the profile service makes a
    Dispatcher for every run)."""
    methods = {}
    for attr in dir(cls):
        func = getattr(cls, attr, None)
        if callable(func) and hasattr(func, "_rpc_callers"):
            methods[attr] = _Method(func, func._rpc_callers)
    return types.MappingProxyType(methods)


class Dispatcher:
    """The one way into a Service: every call, whatever its channel (the TCP
    server below, the sandbox's API channel for the profile API), is checked
    here: the method must be marked, the caller's section must be among its
    ``callers``, the arguments must fit its signature. The result is a reply
    message (``zoobar.wire``); a method's failure is an error reply, never an
    exception."""

    def __init__(self, service: Service, section: str | None = None):
        self.service = service
        self.section = section or service.name
        self.methods = _methods_of(type(service))

    def dispatch_line(self, line: bytes, caller: str | None) -> dict:
        """Answer one request line from ``caller``."""
        try:
            name, kwargs = wire.parse_request(line)
        except wire.WireError as err:
            return wire.error(err.kind, err.message)
        return self.dispatch(name, kwargs, caller)

    def dispatch(self, name: str, kwargs: dict, caller: str | None) -> dict:
        """Check and run one call of ``name`` from ``caller``; its reply message."""
        target = self.methods.get(name)
        if target is None:
            return wire.error(NO_SUCH_METHOD, f"{self.service.name} has no method {name!r}")
        if caller not in target.callers:
            who = caller or "an unknown address"
            print(f"{self.service.name}: refused {name!r} to {who}", file=sys.stderr, flush=True)
            return wire.error(FORBIDDEN, f"{name} may not be called by {who}")
        try:
            target.check_args(kwargs)
        except TypeError as err:
            return wire.error(TYPE_ERROR, f"{name}: {err}")
        outer = getattr(_request, "caller", None)
        _request.caller = caller
        try:
            return wire.ok(target.func(self.service, **kwargs))
        except Refused as err:
            return wire.error(REFUSED, str(err))
        except Exception as err:  # a bug in a method must not take the service down
            traceback.print_exc(file=sys.stderr)
            return wire.error(INTERNAL, f"{type(err).__name__}: {err}")
        finally:
            _request.caller = outer


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.request.settimeout(IDLE_TIMEOUT)
        self.peer = self.server.conf.section_for_host(self.client_address[0])

    def handle(self) -> None:
        try:
            while True:
                try:
                    line = wire.read_line(self.rfile)
                except wire.LineTooLarge as err:
                    if not self.reply(wire.error(err.kind, err.message)):
                        return
                    if not wire.skip_line(self.rfile, err):
                        return
                    continue
                if line is None:        # end of input; a line cut short is no request
                    return
                if not self.reply(self.server.dispatcher.dispatch_line(line, self.peer)):
                    return
        except OSError:
            return

    def reply(self, message: dict) -> bool:
        try:
            self.wfile.write(wire.reply_line(message))
            self.wfile.flush()
        except OSError:
            return False
        return True


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, service: Service, conf: zookconf.ZookConf, section: str):
        self.service = service
        self.conf = conf
        self.section = section
        self.dispatcher = Dispatcher(service, section)
        super().__init__(conf.address(section), _Handler)


def make_server(service: Service, conf_path: str | None = None,
                section: str | None = None) -> _Server:
    """A bound (listening) server; call ``serve_forever()`` on it."""
    section = section or os.environ.get("ZOOK_SECTION")
    if not section:
        raise zookconf.ConfError("no section given and ZOOK_SECTION is not set")
    return _Server(service, zookconf.load(conf_path), section)


def serve(service: Service, conf_path: str | None = None, section: str | None = None) -> None:
    """Serve ``service`` on its section's host:port until the process ends."""
    server = make_server(service, conf_path, section)
    host, port = server.server_address[:2]
    print(f"{service.name}: listening on {host}:{port}", file=sys.stderr, flush=True)
    server.serve_forever()


# ---------------------------------------------------------------------------
# Client side

class Client:
    """Calls one service. Thread-safe: each thread keeps its own connection."""

    def __init__(self, target: str, conf_path: str | None = None, section: str | None = None,
                 timeout: float = READ_TIMEOUT, connect_timeout: float = CONNECT_TIMEOUT):
        self.conf = zookconf.load(conf_path)
        self.target = target
        self.address = self.conf.address(target)
        self.section = section if section is not None else os.environ.get("ZOOK_SECTION")
        self.source = self.conf.require(self.section, "host") if self.section else None
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._local = threading.local()

    def _connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is not None and conn[0] == os.getpid():
            if not _closed_by_peer(conn[1]):
                return conn, True
            self.close()            # the server closed it while idle: take a fresh one
        source = (self.source, 0) if self.source else None
        try:
            sock = socket.create_connection(self.address, timeout=self.connect_timeout,
                                            source_address=source)
        except OSError as err:
            raise RpcUnavailable(f"cannot reach {self.target} at "
                                 f"{self.address[0]}:{self.address[1]}: {err}") from None
        sock.settimeout(self.timeout)
        conn = (os.getpid(), sock, sock.makefile("rb"))
        self._local.conn = conn
        return conn, False

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None and conn[0] == os.getpid():
            conn[2].close()
            conn[1].close()

    def call(self, _method: str, /, **kwargs):
        """Call ``_method`` with keyword arguments; return its result."""
        try:
            line = wire.request(_method, kwargs)
        except wire.WireError as err:
            raise RemoteError(err.kind, f"request not sent: {err.message}") from None
        # A request that may have reached the service is never sent again (a
        # transfer must not run twice): only a failed send on a kept connection
        # is retried, on a fresh one.
        for attempt in (1, 2):
            (_, sock, rfile), reused = self._connection()
            try:
                sock.sendall(line)
            except OSError as err:
                self.close()
                if reused and attempt == 1:
                    continue
                raise RpcUnavailable(f"{self.target}: {err}") from None
            try:
                reply = wire.read_line(rfile)
            except TimeoutError:
                self.close()
                raise RpcUnavailable(f"{self.target} did not answer {_method} "
                                     f"within {self.timeout}s") from None
            except OSError as err:
                self.close()
                raise RpcUnavailable(f"{self.target}: {err} during {_method}") from None
            except wire.WireError as err:
                self.close()
                raise RemoteError(err.kind, f"{self.target}'s reply: {err.message}") from None
            if reply is None:
                self.close()
                raise RpcUnavailable(f"{self.target} closed the connection during {_method}")
            return unpack(reply, self.target)
        raise AssertionError("unreachable")


def _closed_by_peer(sock: socket.socket) -> bool:
    """A kept connection the server has closed (or written to unasked) is readable."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def unpack(reply: bytes | dict, target: str):
    """The result of a reply (a line or a message); RemoteError for an error reply."""
    try:
        return wire.result(wire.decode(reply) if isinstance(reply, bytes) else reply)
    except wire.ReplyError as err:
        raise RemoteError(err.kind, err.message) from None
    except wire.WireError as err:
        raise RemoteError(err.kind, f"{target} sent a reply that is not JSON") from None


# Calls a thread hands off to run while it goes on (``submit``): one pool per
# process, made again in a forked child (whose parent's threads are gone).
SUBMIT_THREADS = 16
_pool: tuple[int, ThreadPoolExecutor] | None = None
_pool_lock = threading.Lock()


def submit(call: Callable, /, *args, **kwargs) -> Future:
    """Run ``call(*args, **kwargs)`` (a client's ``call``: an RPC) on a thread of
    this process's pool, so that independent RPCs are under way at once; the
    Future's ``result()`` is its answer or raises what the call raised. Each
    pool thread keeps its own connections (``Client``). ``call`` must not wait
    for another submitted call (the pool is bounded)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(SUBMIT_THREADS, thread_name_prefix="rpc"))
        return _pool[1].submit(call, *args, **kwargs)


_clients: dict[tuple, Client] = {}
_clients_lock = threading.Lock()


def client(target: str, conf_path: str | None = None, section: str | None = None,
           timeout: float = READ_TIMEOUT) -> Client:
    """A (cached) client for ``target``; defaults from $ZOOK_CONF and $ZOOK_SECTION."""
    conf_path = str(conf_path or zookconf.default_path())
    section = section if section is not None else os.environ.get("ZOOK_SECTION")
    key = (target, conf_path, section, timeout)
    with _clients_lock:
        found = _clients.get(key)
        if found is None:
            found = _clients[key] = Client(target, conf_path, section, timeout)
        return found
