"""The RPC library every zoobar service and client uses (the only RPC code).

Wire format: one JSON request per line, ``[method, {kwargs}]``, answered by one
JSON line, ``{"ok": result}`` or ``{"error": {"type": ..., "message": ...}}``.
A connection may carry many requests in turn. Lines over ``MAX_LINE`` bytes are
refused and the connection closed (it cannot be resynchronised).

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

import inspect
import json
import os
import select
import socket
import socketserver
import sys
import threading
import traceback
import types
import typing
from collections.abc import Callable, Iterable

from zoobar import zookconf

MAX_LINE = 1 << 20           # 1 MiB, request and reply alike
CONNECT_TIMEOUT = 3.0        # seconds
READ_TIMEOUT = 10.0          # seconds a client waits for a reply
IDLE_TIMEOUT = 120.0         # seconds a server keeps a silent connection
MAX_DISCARD = 64 << 20       # an oversized line longer than this ends the connection

# Error types a reply can carry.
BAD_REQUEST = "BadRequest"
TOO_LARGE = "TooLarge"
NO_SUCH_METHOD = "NoSuchMethod"
TYPE_ERROR = "TypeError"
FORBIDDEN = "Forbidden"
REFUSED = "Refused"
INTERNAL = "InternalError"


class RpcError(Exception):
    """Base of what a client call can raise."""


class RemoteError(RpcError):
    """The service answered with an error (``type`` is one of the constants above)."""

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

    def rpc_methods(self) -> dict[str, _Method]:
        table = {}
        for attr in dir(type(self)):
            func = getattr(type(self), attr, None)
            if callable(func) and hasattr(func, "_rpc_callers"):
                table[attr] = _Method(getattr(self, attr), func._rpc_callers)
        return table


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
    def __init__(self, bound: Callable, callers: frozenset[str]):
        self.bound = bound
        self.callers = callers
        self.signature = inspect.signature(bound)
        self.hints = typing.get_type_hints(bound)

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


def _error(kind: str, message: str) -> dict:
    return {"error": {"type": kind, "message": message}}


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.request.settimeout(IDLE_TIMEOUT)
        self.peer = self.server.conf.section_for_host(self.client_address[0])

    def handle(self) -> None:
        while True:
            try:
                line = self.rfile.readline(MAX_LINE + 1)
            except OSError:
                return
            if not line:
                return
            if len(line) > MAX_LINE:
                self.reply(_error(TOO_LARGE, f"request line over {MAX_LINE} bytes"))
                if not line.endswith(b"\n") and not self.skip_rest_of_line():
                    return
                continue
            if not self.reply(self.server.dispatch(line, self.peer)):
                return

    def skip_rest_of_line(self) -> bool:
        """Discard the rest of an oversized line; False if the connection is done."""
        for _ in range(MAX_DISCARD // 65536):
            try:
                chunk = self.rfile.readline(65536)
            except OSError:
                return False
            if not chunk:
                return False
            if chunk.endswith(b"\n"):
                return True
        return False

    def reply(self, message: dict) -> bool:
        try:
            data = json.dumps(message).encode()
        except (TypeError, ValueError) as err:
            data = json.dumps(_error(INTERNAL, f"result is not JSON: {err}")).encode()
        if len(data) > MAX_LINE:
            data = json.dumps(_error(INTERNAL, "reply too large")).encode()
        try:
            self.wfile.write(data + b"\n")
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
        self.methods = service.rpc_methods()
        super().__init__(conf.address(section), _Handler)

    def dispatch(self, line: bytes, peer: str | None) -> dict:
        try:
            request = json.loads(line)
        except (UnicodeDecodeError, ValueError, RecursionError) as err:
            return _error(BAD_REQUEST, f"request is not JSON: {err}")
        if (not isinstance(request, list) or len(request) != 2
                or not isinstance(request[0], str) or not isinstance(request[1], dict)):
            return _error(BAD_REQUEST, "request must be [method, {kwargs}]")
        name, kwargs = request
        return _invoke(self.service, self.methods, self.section, name, kwargs, peer)


def _invoke(service: Service, methods: dict[str, _Method], section: str, name: str,
            kwargs: dict, peer: str | None) -> dict:
    """Check and run one request from ``peer``; the reply as a message dict."""
    target = methods.get(name)
    if target is None:
        return _error(NO_SUCH_METHOD, f"{service.name} has no method {name!r}")
    if peer not in target.callers:
        who = peer or "an unknown address"
        print(f"{service.name}: refused {name!r} to {who}", file=sys.stderr, flush=True)
        return _error(FORBIDDEN, f"{name} may not be called by {who}")
    try:
        target.check_args(kwargs)
    except TypeError as err:
        return _error(TYPE_ERROR, f"{name}: {err}")
    outer = getattr(_request, "caller", None), getattr(_request, "serving", None)
    _request.caller, _request.serving = peer, section
    try:
        return {"ok": target.bound(**kwargs)}
    except Refused as err:
        return _error(REFUSED, str(err))
    except Exception as err:  # a bug in a method must not take the service down
        traceback.print_exc(file=sys.stderr)
        return _error(INTERNAL, f"{type(err).__name__}: {err}")
    finally:
        _request.caller, _request.serving = outer


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
        line = json.dumps([_method, kwargs]).encode() + b"\n"
        if len(line) > MAX_LINE:
            raise RemoteError(TOO_LARGE, f"request line over {MAX_LINE} bytes")
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
                reply = rfile.readline(MAX_LINE + 1)
            except TimeoutError:
                self.close()
                raise RpcUnavailable(f"{self.target} did not answer {_method} "
                                     f"within {self.timeout}s") from None
            except OSError as err:
                self.close()
                raise RpcUnavailable(f"{self.target}: {err} during {_method}") from None
            if not reply.endswith(b"\n"):
                self.close()
                raise RpcUnavailable(f"{self.target} closed the connection during {_method}")
            return _unpack(reply, self.target)
        raise AssertionError("unreachable")


def _closed_by_peer(sock: socket.socket) -> bool:
    """A kept connection the server has closed (or written to unasked) is readable."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _unpack(reply: bytes, target: str):
    try:
        message = json.loads(reply)
    except ValueError:
        raise RemoteError(BAD_REQUEST, f"{target} sent a reply that is not JSON") from None
    return _result(message, target)


def _result(message, target: str):
    if isinstance(message, dict) and "ok" in message:
        return message["ok"]
    error = message.get("error") if isinstance(message, dict) else None
    if isinstance(error, dict):
        raise RemoteError(str(error.get("type")), str(error.get("message")))
    raise RemoteError(BAD_REQUEST, f"{target} sent a malformed reply")


_clients: dict[tuple, Client] = {}
_clients_lock = threading.Lock()


def client(target: str, conf_path: str | None = None, section: str | None = None,
           timeout: float = READ_TIMEOUT) -> Client | LocalClient:
    """A (cached) client for ``target``; defaults from $ZOOK_CONF and $ZOOK_SECTION.

    A target hosted in this process (``serve_in_process``) gets a ``LocalClient``."""
    if target in _in_process:
        return LocalClient(target, section)
    conf_path = str(conf_path or zookconf.default_path())
    section = section if section is not None else os.environ.get("ZOOK_SECTION")
    key = (target, conf_path, section, timeout)
    with _clients_lock:
        found = _clients.get(key)
        if found is None:
            found = _clients[key] = Client(target, conf_path, section, timeout)
        return found


# ---------------------------------------------------------------------------
# In-process transport: the monolithic baseline (bench/dynamic) runs the same
# services inside the front end's process, called directly instead of over TCP.

_in_process: dict[str, tuple[Service, dict[str, _Method]]] = {}


def serve_in_process(service: Service, section: str) -> None:
    """Host ``service`` as ``section`` in this process: from now on ``client(section)``
    calls its methods directly (no socket, no JSON), with the same caller and
    argument checks and the same errors as over the wire."""
    _in_process[section] = (service, service.rpc_methods())


class LocalClient:
    """A client for a service hosted in this process. The caller it presents is
    the in-process service whose method is running on this thread (as that
    service's own process would be), else its own section."""

    def __init__(self, target: str, section: str | None = None):
        self.target = target
        self.section = section if section is not None else os.environ.get("ZOOK_SECTION")

    def call(self, _method: str, /, **kwargs):
        service, methods = _in_process[self.target]
        peer = getattr(_request, "serving", None) or self.section
        return _result(_invoke(service, methods, self.target, _method, kwargs, peer),
                       self.target)

    def close(self) -> None:
        pass
