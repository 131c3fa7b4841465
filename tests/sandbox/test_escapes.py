"""The escape suite: profiles whose success would be a breach, run by the real
profile service (local stack). Each attempt prints ``BREACH ...`` if what it
tried worked and ``BLOCKED <exception>`` if it was stopped; the test checks
that it was stopped the expected way (not, say, by a typo in the attempt),
that nothing changed where the attempt aimed, that the service still
answers, and that the same owner's next normal profile works.
"""

from __future__ import annotations

import secrets
import textwrap
from dataclasses import dataclass, field

import pytest

from tests.sandbox.helpers import must
from tests.sandbox.wasm_helpers import outcomes
from zoobar.sandbox.runner import Limits

CTYPES = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def sysc(name, *args):
    r = getattr(libc, name)(*args)
    if r == -1:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r
"""


@dataclass
class Attempt:
    name: str
    code: str                    # may use {victim_dir} {secret} {bank_db} {pid} {bank} ...
    expect: str = "BLOCKED"      # text the output must contain
    status: str = "ok"
    prelude: str = ""
    checks: list = field(default_factory=list)   # extra checks: f(ctx, result)


def guarded(body: str, breach: str = "'done'") -> str:
    """Run `body`; print BREACH if it completes, BLOCKED <error> if it raises."""
    return (f"try:\n{textwrap.indent(textwrap.dedent(body).strip(), '    ')}\n"
            f"    print('BREACH', {breach})\n"
            "except BaseException as e:\n"
            "    print('BLOCKED', type(e).__name__, e)\n")


def balances_unchanged(ctx, result):
    assert ctx.site.balance(ctx.attacker) == 10
    assert ctx.site.balance(ctx.victim) == ctx.victim_balance


def no_token_in_output(ctx, result):
    for token in ctx.site.tokens.values():
        assert token not in result["output"]


def owner_dir_within_disk_limit(ctx, result):
    d = ctx.site.owner_dir(ctx.attacker)
    assert sum(p.stat().st_size for p in d.rglob("*") if p.is_file()) <= Limits().disk


def victim_secret_intact(ctx, result):
    assert (ctx.victim_dir / "secret.txt").read_text() == ctx.secret


def nothing_planted(ctx, result):
    # the next run (the normal one the test makes) must not follow the planted link
    ctx.site.set_profile(ctx.attacker, "#!python\nprint('next')")
    assert must(ctx.site.view(ctx.attacker, ctx.attacker)) == "next\n"
    assert not (ctx.site.stack.data_dir / "planted").exists()


def nothing_written_on_the_host(ctx, result):
    assert not (ctx.site.stack.data_dir / "breach").exists()


ATTEMPTS = [
    # -- files outside the owner's directory
    Attempt("read /etc/passwd", guarded("open('/etc/passwd').read()"),
            "BLOCKED FileNotFoundError"),
    Attempt("read /etc/passwd by ../", guarded("open('../' * 20 + 'etc/passwd').read()"),
            "BLOCKED FileNotFoundError"),
    Attempt("read another owner's file by its path",
            guarded("open('{victim_dir}/secret.txt').read()"), "BLOCKED FileNotFoundError"),
    Attempt("find another owner's file by walking up with chdir('..')", """
import os
for _ in range(50):
    os.chdir('..')
found = [r for r, _, fs in os.walk('/') for f in fs if f == 'secret.txt']
print('BREACH', found) if found else print('BLOCKED nothing of other owners', os.getcwd())
""", "BLOCKED nothing of other owners /", checks=[victim_secret_intact]),
    Attempt("read another owner's file through a symlink",
            guarded("import os\nos.symlink('{victim_dir}/secret.txt', 'ln')\nopen('ln').read()"),
            "BLOCKED FileNotFoundError", checks=[victim_secret_intact]),
    Attempt("read /etc/passwd through a ../ symlink",
            guarded("import os\nos.symlink('../../../../../../etc/passwd', 'up')\n"
                    "open('up').read()"), "BLOCKED FileNotFoundError"),
    Attempt("hard-link another owner's file",
            guarded("import os\nos.link('{victim_dir}/secret.txt', 'hl')"),
            "BLOCKED FileNotFoundError", checks=[victim_secret_intact]),
    Attempt("read the bank database", guarded("open('{bank_db}', 'rb').read()"),
            "BLOCKED FileNotFoundError"),
    Attempt("read the sandbox's uid map", guarded("open('{sandbox_root}/uids.sqlite').read()"),
            "BLOCKED FileNotFoundError"),
    Attempt("write outside its directory", guarded("open('{data_dir}/breach', 'w').write('x')"),
            "BLOCKED FileNotFoundError", checks=[nothing_written_on_the_host]),
    Attempt("write into the standard library",
            guarded("import os\nwith open(os.__file__, 'a') as f:\n    f.write('#')"),
            "BLOCKED PermissionError"),
    Attempt("plant a usr symlink for the next run's mounts", """
import os
try:
    os.rename('/usr', '/old')
    os.symlink('{data_dir}/planted', '/usr')
    print('planted, the next run decides')
except OSError as e:
    print('BLOCKED', e)
""", "", checks=[nothing_planted]),
    Attempt("open a device node", guarded("open('/dev/mem', 'rb')"), "BLOCKED FileNotFoundError"),
    Attempt("make a device node", guarded("import os\nos.mknod('mem', 0o600 | 0o20000, "
                                          "os.makedev(1, 1))"), "BLOCKED PermissionError"),
    Attempt("read another process's memory through /proc",
            guarded("open('/proc/{pid}/mem', 'rb')"), "BLOCKED FileNotFoundError"),
    # -- network
    Attempt("connect to the bank over TCP",
            guarded("import socket\nsocket.create_connection(('{bank_host}', {bank_port}), 1)"),
            "BLOCKED PermissionError"),
    Attempt("send UDP", guarded("import socket\nsocket.socket(socket.AF_INET, socket.SOCK_DGRAM)"
                                ".sendto(b'x', ('127.0.0.1', 53))"), "BLOCKED PermissionError"),
    Attempt("open a unix socket", guarded("import socket\nsocket.socket(socket.AF_UNIX)"
                                          ".connect('/dev/log')"), "BLOCKED PermissionError"),
    Attempt("open a netlink socket",
            guarded("import socket\nsocket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)"),
            "BLOCKED PermissionError"),
    Attempt("make a socketpair", guarded("import socket\nsocket.socketpair()"),
            "BLOCKED PermissionError"),
    # -- processes
    Attempt("fork", guarded("import os\nos.fork()"), "BLOCKED PermissionError"),
    Attempt("start a thread bomb", guarded(
        "import threading, time\nfor _ in range(1000):\n"
        "    threading.Thread(target=time.sleep, args=(10,)).start()"), "BLOCKED RuntimeError"),
    Attempt("exec a binary", guarded("import os, sys\nos.execv(sys.executable, ['python3'])"),
            "BLOCKED PermissionError"),
    Attempt("run a shell with subprocess",
            guarded("import subprocess\nsubprocess.run(['/bin/sh', '-c', 'id'])"),
            "BLOCKED PermissionError"),
    Attempt("kill the profile service", guarded("import os\nos.kill({pid}, 9)"),
            "BLOCKED PermissionError"),
    # kill(-1) reports success even when every target refused: what counts is who survives
    Attempt("kill every process it can", "import os\nos.kill(-1, 9)\nprint('BLOCKED still alive')",
            "BLOCKED still alive"),
    Attempt("ptrace the profile service",
            guarded("sysc('ptrace', 16, {pid}, 0, 0)"), "BLOCKED PermissionError [Errno 1]",
            prelude=CTYPES),
    Attempt("become root", guarded("import os\nos.setuid(0)"), "BLOCKED PermissionError"),
    Attempt("escape the chroot with a nested chroot", guarded(
        "import os\nos.mkdir('x')\nos.chroot('x')\nos.chdir('../../../..')\nos.chroot('.')"),
        "BLOCKED PermissionError"),
    Attempt("make a user namespace (to regain capabilities)",
            guarded("sysc('unshare', 0x10000000)"), "BLOCKED PermissionError [Errno 1]", prelude=CTYPES),
    Attempt("mount proc", guarded("import os\nos.mkdir('p')\n"
                                  "sysc('mount', b'proc', b'/p', b'proc', 0, None)"),
            "BLOCKED PermissionError [Errno 1]", prelude=CTYPES),
    Attempt("use kernel interfaces: bpf, keyctl, modules, kexec, perf, io_uring", """
import ctypes
results = []
for nr in (321, 250, 175, 313, 246, 298, 425):     # x86_64 numbers
    r = libc.syscall(nr, 0, 0, 0, 0, 0)
    results.append(ctypes.get_errno() if r == -1 else 'ok')
print('BLOCKED' if set(results) == {{1}} else 'BREACH', results)
""", "BLOCKED", prelude=CTYPES),
    Attempt("share memory or queues beyond the run: SysV shm, msg, sem, POSIX mq", """
results = []
for name, args in (('shmget', (0, 1 << 20, 0o1666)), ('msgget', (0, 0o1666)),
                   ('semget', (0, 1, 0o1666)), ('mq_open', (b'/q', 0o102, 0o600, None))):
    r = getattr(libc, name)(*args)
    results.append(ctypes.get_errno() if r == -1 else 'ok')
print('BLOCKED' if set(results) == {{1}} else 'BREACH', results)
""", "BLOCKED", prelude=CTYPES),
    Attempt("bypass seccomp with an x32-ABI socket call",
            "r = libc.syscall(0x40000000 | 41, 2, 1, 0)\nprint('BREACH' if r >= 0 else 'errno',"
            " ctypes.get_errno())", "", "error", prelude=CTYPES),   # killed: SIGSYS
    # -- descriptors
    Attempt("use an inherited descriptor", """
import os
extra = []
for fd in range(1024):
    try:
        os.fstat(fd)
        extra.append(fd)
    except OSError:
        pass
print('BLOCKED' if extra == [1, 2, 3] else 'BREACH', extra)
""", "BLOCKED [1, 2, 3]"),
    Attempt("fchdir out through any descriptor", """
import os
escaped = []
for fd in range(64):
    try:
        os.fchdir(fd)
        if 'owners' in os.listdir('..') or 'etc' in os.listdir('..'):
            escaped.append(fd)
    except OSError:
        pass
print('BREACH', escaped) if escaped else print('BLOCKED no directory descriptor')
""", "BLOCKED no directory descriptor"),
    # -- tokens and zoobars
    Attempt("learn a token through the API", """
found = []
for name, kw in [('get_token', {{}}), ('login', {{}}), ('check_token', {{}}),
                 ('transfer', {{}}), ('get_profile', {{'username': '{victim}'}})]:
    try:
        found.append((name, api.call(name, **kw)))
    except Exception as e:
        pass
info = api.call('get_user_info', username='{victim}')
me = api.call('get_user_info', username='{attacker}')
keys = sorted(set(info) | set(me))
print('BLOCKED' if not found and keys == ['profile', 'username', 'zoobars'] else 'BREACH',
      found, keys)
""", "BLOCKED", checks=[no_token_in_output]),
    Attempt("xfer a negative amount",
            guarded("api.call('xfer', target='{victim}', zoobars=-5)"), "BLOCKED",
            checks=[balances_unchanged]),
    Attempt("xfer a huge amount",
            guarded("api.call('xfer', target='{victim}', zoobars=10**30)"), "BLOCKED",
            checks=[balances_unchanged]),
    Attempt("xfer from someone else", """
caught = 0
for kw in ({{'sender': '{victim}'}}, {{'owner': '{victim}'}}):
    try:
        api.call('xfer', target='{attacker}', zoobars=5, **kw)
    except Exception:
        caught += 1
print('BLOCKED' if caught == 2 else 'BREACH', caught)
""", "BLOCKED", checks=[balances_unchanged]),
    Attempt("xfer a fractional or boolean amount", """
caught = 0
for amount in (0.5, True, '1', None):
    try:
        api.call('xfer', target='{victim}', zoobars=amount)
    except Exception:
        caught += 1
print('BLOCKED' if caught == 4 else 'BREACH', caught)
""", "BLOCKED", checks=[balances_unchanged]),
    Attempt("flood the API", guarded("for _ in range(5000):\n    api.call('get_self')"),
            "BLOCKED"),
    Attempt("send garbage on the API channel", """
import os
os.write(3, b'\\xff{{not json\\n')
reply = os.read(3, 4096)
print('BLOCKED' if b'error' in reply else 'BREACH', reply)
""", "BLOCKED"),
    # -- resources
    Attempt("fill the disk", guarded(
        "i = 0\nwhile True:\n    open(f'fill{{i}}', 'wb').write(b'x' * 1000000)\n    i += 1"),
        "BLOCKED OSError [Errno 28]", checks=[owner_dir_within_disk_limit]),
    Attempt("exhaust the inodes", guarded(
        "import os\nfor i in range(100000):\n    os.mkdir(f'd{{i}}')"),
        "BLOCKED OSError [Errno 28]"),
    Attempt("write one huge file",
            guarded("open('huge', 'wb').write(b'x' * 100_000_000)"),
            "BLOCKED OSError [Errno 27]"),
    Attempt("allocate 10 GB", guarded("bytearray(10 * 2**30)"), "BLOCKED MemoryError"),
    Attempt("open files without limit",
            guarded("fs = [open(f'o{{i}}', 'w') for i in range(10000)]"),
            "BLOCKED OSError [Errno 24]"),
    Attempt("loop forever", "while True:\n    pass", "profile timed out", "timeout"),
    Attempt("sleep forever", "import time\ntime.sleep(10**6)", "profile timed out", "timeout"),
    Attempt("print 100 MB", "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 2**20)",
            "output cut", "error"),
    # -- crashes
    Attempt("crash by unbounded recursion in C", "import sys\nsys.setrecursionlimit(10**8)\n"
            "x = []\nfor _ in range(10**5):\n    x = [x]\nrepr(x)", "", "error"),
    Attempt("crash with os._exit", "import os\nos._exit(3)", "", "error"),
    Attempt("segfault through ctypes", "ctypes.string_at(0)", "", "error", prelude=CTYPES),
]

NORMAL = "#!python\nprint('normal', api.call('get_self'))\n"


class Context:
    def __init__(self, site, victim, secret, attacker):
        self.site, self.victim, self.secret, self.attacker = site, victim, secret, attacker
        self.victim_dir = site.owner_dir(victim)
        self.victim_balance = site.balance(victim)

    def fill(self, code: str) -> str:
        stack = self.site.stack
        bank_host, bank_port = stack.address("bank")
        return code.format(
            victim_dir=self.victim_dir, secret=self.secret, victim=self.victim,
            attacker=self.attacker, bank_db=stack.db_path("bank"),
            sandbox_root=self.site.sandbox_root, data_dir=stack.data_dir,
            pid=self.site.service_pid(), bank_host=bank_host, bank_port=bank_port)


@pytest.fixture(scope="module")
def victim(site):
    name, secret = site.user("victim"), secrets.token_hex(16)
    site.set_profile(name, f"#!python\nopen('secret.txt', 'w').write('{secret}')\nprint('ok')")
    assert must(site.view(name, name)).strip() == "ok"
    return name, secret


def test_the_suite_has_at_least_30_distinct_attempts():
    assert len({a.name for a in ATTEMPTS}) == len(ATTEMPTS) >= 30


@pytest.mark.parametrize("attempt", ATTEMPTS, ids=[a.name for a in ATTEMPTS])
def test_escape_attempt_fails_and_the_service_keeps_serving(site, victim, attempt):
    attacker = site.user("attacker")
    ctx = Context(site, *victim, attacker)
    service = site.service_pid()
    expected, code = outcomes(attempt, site.backend)       # how each backend stops it
    site.set_profile(attacker, "#!python\n" + attempt.prelude + ctx.fill(code))
    result = site.view(attacker, victim[0])
    assert "BREACH" not in result["output"], result["output"]
    assert any(result["status"] == status and text in result["output"]
               for text, status in expected), (expected, result["status"], result["output"][:2000])
    for check in attempt.checks:
        check(ctx, result)
    assert site.service_pid() == service, "the profile service was restarted"
    site.set_profile(attacker, NORMAL)
    assert must(site.view(attacker, attacker)).strip() == f"normal {attacker}"
