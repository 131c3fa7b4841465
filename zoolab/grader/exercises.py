"""The grader's exercises: one function per exercise of the lab.

Each takes the shared ``Context`` and returns a short note on success, raises
``CheckFailed`` with what it saw, or ``Skipped`` with why it cannot check in
this mode. Usernames carry a random tag so that runs never collide.
"""

from __future__ import annotations

import json
import re
import secrets
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from zoolab import ROOT, editions
from zoolab.grader import editions as edition_checks
from zoolab.table import expected_matrix
from zoolab.grader.site import (
    Browser,
    CheckFailed,
    Runner,
    Skipped,
    log_rows,
    page_text,
    zoobars_on_users_page,
)

PROBE = Path(__file__).with_name("probe.py")


@dataclass
class Context:
    base_url: str
    runner: Runner
    rows: list[dict]                      # service table rows; "host" = where it listens
    db_dir: str                           # inside containers, or the local data dir's db/
    zook_conf: str                        # path of zook.conf where the runner runs
    pythonpath: str                       # directory holding the zoobar package there
    python: str = "python3"
    # The edition's row of group_vars/all/editions.yml: which exercises run, and how.
    spec: dict = field(default_factory=lambda: editions.table()[editions.default()])
    host: Runner = field(default_factory=lambda: Runner(None))  # runs lxc-stop/-start
    timeout: float = 60.0                 # HTTP: registration hashes 20 sweetwords
    reset_done: str | None = None         # how this run emptied the site, once done
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    shared_password: str = field(default_factory=lambda: "same-" + secrets.token_hex(8))
    _users: dict = field(default_factory=dict)
    _matrix: dict | None = None

    @property
    def local(self) -> bool:
        return self.runner.local

    def browser(self) -> Browser:
        return Browser(self.base_url, self.timeout)

    def forget_users(self) -> None:
        """After the site's state was emptied: register users anew."""
        self._users.clear()

    def row(self, name: str) -> dict | None:
        return next((r for r in self.rows if r["name"] == name), None)

    def owner_of(self, db: str) -> str | None:
        return next((r["name"] for r in self.rows if db in r["databases"]), None)

    def db_path(self, db: str) -> str:
        return f"{self.db_dir}/{db}/{db}.db"

    def user(self, label: str, password: str | None = None) -> tuple[Browser, str]:
        """A registered, logged-in user (registered once per run per label)."""
        if label not in self._users:
            name = f"g{self.tag}{label}"
            password = password or "pw-" + secrets.token_hex(8)
            browser = self.browser()
            resp = browser.register(name, password)
            if resp.status_code != 200 or not browser.logged_in_as(resp.text):
                raise CheckFailed(f"registering {name!r}: HTTP {resp.status_code}, "
                                  f"page does not show 'Log out {name}'")
            self._users[label] = (browser, password)
        return self._users[label]

    def view_profile(self, viewer: str, owner: str) -> str:
        browser, _ = self.user(viewer)
        owner_name = self.user(owner)[0].username
        resp = browser.users(owner_name)
        if resp.status_code != 200:
            raise CheckFailed(f"users?user={owner_name}: HTTP {resp.status_code}")
        return page_text(resp.text)

    def read_db(self, db: str, container: str | None = None) -> tuple[bytes, Path] | None:
        """The db's bytes (main file + WAL) and a local copy to open with sqlite3;
        an edition whose grader copies only ``<name>.db`` out gets that file alone."""
        container = container or self.owner_of(db) or db
        main = self.runner.read(container, self.db_path(db))
        if main is None:
            return None
        wal = b""
        if self.spec["grader_db_read"] == "live":
            wal = self.runner.read(container, self.db_path(db) + "-wal") or b""
        tmp = Path(tempfile.mkdtemp(prefix="zoolab-grade-"))
        (tmp / f"{db}.db").write_bytes(main)
        if wal:
            (tmp / f"{db}.db-wal").write_bytes(wal)
        return main + wal, tmp / f"{db}.db"


def columns(db_file: Path, table: str) -> list[str]:
    with sqlite3.connect(db_file) as conn:
        return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def query(db_file: Path, sql: str, args: tuple = ()) -> list[tuple]:
    with sqlite3.connect(db_file) as conn:
        return conn.execute(sql, args).fetchall()


def need(cond: bool, message: str) -> None:
    if not cond:
        raise CheckFailed(message)


# -- application ---------------------------------------------------------------

def app(ctx: Context) -> str:
    alice, pw = ctx.user("a")
    bob, _ = ctx.user("b")
    need(alice.balance_on_home() == 10, f"new user {alice.username} does not show "
                                        "'Balance: 10 zoobars' on the home page")
    resp = alice.transfer(bob.username, 3)
    need(resp.status_code == 200, f"transfer: HTTP {resp.status_code}")
    need(alice.balance_on_home() == 7, "sender's balance is not 7 after sending 3 of 10")
    page = alice.users(bob.username).text
    need(zoobars_on_users_page(page) == 13,
         f'users?user={bob.username} shows <span id="zoobars" class=...> = '
         f"{zoobars_on_users_page(page)}, expected 13")
    rows = [r for r in log_rows(page) if alice.username in r and bob.username in r]
    need(rows and any("3" in r for r in rows),
         f'no row "{alice.username} -> {bob.username}, 3" in <table class="log">')
    marker = f"echo-{ctx.tag}"
    resp = alice.echo(marker)
    need(resp.status_code == 200 and marker in resp.text, f"echo?s={marker} does not echo it")
    # last: logging in again issues a new token, which ends the first session
    wrong = ctx.browser()
    resp = wrong.login(alice.username, pw + "x")
    need(not wrong.logged_in_as(resp.text), "a wrong password logs in")
    again = ctx.browser()
    resp = again.login(alice.username, pw)
    need(resp.status_code == 200 and again.logged_in_as(resp.text),
         f"logging in again as {alice.username}: no 'Log out {alice.username}'")
    ctx._users["a"] = (again, pw)
    return "register, login, 10 zoobars, transfer, users page, log, echo"


def _listener_pids(ctx: Context, name: str) -> list[int]:
    host, port = ctx.row(name)["host"], ctx.row(name)["port"]
    out = ctx.runner.run(name, ["ss", "-Hltnp", f"src {host}:{port}"])
    pids = sorted({int(p) for p in re.findall(rb"pid=(\d+)", out.stdout)})
    if not pids:
        raise CheckFailed(f"no process listens on {host}:{port} in {name}")
    return pids


def _signal(ctx: Context, name: str, pids: list[int], sig: signal.Signals) -> None:
    ctx.runner.run(name, ["kill", f"-{sig.name[3:]}", *map(str, pids)])


def _answers(url: str, timeout: float) -> bool:
    try:
        return requests.get(url, timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


def split(ctx: Context) -> str:
    home = ctx.browser()
    index_url = home.app + "/"
    media = re.findall(r"""["'](/zoobar/media/[^"'?#]+)""", home.get("/").text)
    need(bool(media), "the home page links no /zoobar/media/ file")
    media_url = ctx.base_url.rstrip("/") + media[0]
    need(_answers(index_url, 10) and _answers(media_url, 10),
         f"index.cgi or {media[0]} does not answer 200 to begin with")
    results = []
    for stopped, works, fails in (("static", index_url, media_url),
                                  ("dynamic", media_url, index_url)):
        pids = _listener_pids(ctx, stopped)
        _signal(ctx, stopped, pids, signal.SIGSTOP)
        try:
            other_ok = _answers(works, 10)
            stopped_ok = _answers(fails, 3)
        finally:
            _signal(ctx, stopped, pids, signal.SIGCONT)
        need(other_ok, f"with {stopped} stopped, {works} no longer answers")
        need(not stopped_ok, f"with {stopped} stopped, {fails} still answers: "
                             f"something else serves it")
        results.append(stopped)
    return "media served only by static, index.cgi only by dynamic"


# -- firewall --------------------------------------------------------------------

def reachability(ctx: Context) -> dict[tuple[str, str], dict]:
    """Probe every ordered pair from inside the source container (in parallel)."""
    if ctx._matrix is not None:
        return ctx._matrix
    script = PROBE.read_bytes()
    results: dict = {}
    errors: list[str] = []

    def probe(src: dict) -> None:
        targets = [[r["name"], r["host"], r["port"]] for r in ctx.rows if r is not src]
        out = ctx.runner.run(src["name"], [ctx.python, "-", json.dumps(targets)],
                             stdin=script, timeout=60)
        try:
            for dst, res in json.loads(out.stdout).items():
                results[(src["name"], dst)] = res
        except ValueError:
            errors.append(f"probe in {src['name']} failed (exit {out.returncode}): "
                          f"{out.stderr.decode(errors='replace').strip()[-200:]}")

    threads = [threading.Thread(target=probe, args=(r,)) for r in ctx.rows]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        raise CheckFailed("; ".join(errors))
    ctx._matrix = results
    return results


def firewall(dst: str):
    def check(ctx: Context) -> str:
        if ctx.local:
            raise Skipped("local mode has no containers or firewall: every service shares "
                          "the host's network")
        seen = reachability(ctx)
        policy = expected_matrix(ctx.rows)
        wrong = []
        for (src, to), want in sorted(policy.items()):
            if to != dst:
                continue
            got = seen.get((src, to))
            for proto in ("icmp", "tcp"):
                if got is None or got[proto] != want[proto]:
                    state = "unprobed" if got is None else \
                        ("reachable" if got[proto] else "blocked")
                    wrong.append(f"{src}->{dst} {proto} {state}, policy says "
                                 f"{'allowed' if want[proto] else 'blocked'}")
        need(not wrong, "; ".join(wrong))
        allowed = sorted(s for (s, t), w in policy.items() if t == dst and w["tcp"])
        return f"reached only by {', '.join(allowed) or 'nobody'}"
    check.__doc__ = f"firewall: who reaches {dst}"
    return check


# -- data separation ---------------------------------------------------------------

def _only_in_owner(ctx: Context, db: str) -> None:
    owner = ctx.owner_of(db)
    need(owner is not None, f"no service in the table owns the {db} database")
    need(ctx.runner.exists(owner, ctx.db_path(db)), f"{ctx.db_path(db)} missing in {owner}")
    if ctx.local:
        return
    leaks = [r["name"] for r in ctx.rows
             if r["name"] != owner and ctx.runner.exists(r["name"], f"{ctx.db_dir}/{db}")]
    need(not leaks, f"{ctx.db_dir}/{db} also exists in: {', '.join(leaks)}")


def _person_columns(ctx: Context) -> list[str]:
    got = ctx.read_db("person")
    need(got is not None, f"{ctx.db_path('person')} missing in {ctx.owner_of('person')}")
    return columns(got[1], "person")


def auth_separation(ctx: Context) -> str:
    ctx.user("a")
    _only_in_owner(ctx, "cred")
    cols = _person_columns(ctx)
    bad = [c for c in cols if c in ("password", "token", "salt")]
    need(not bad, f"person table still has {', '.join(bad)}")
    return "cred db only in auth; person has no password or token" + \
        (" (local mode: one data directory, ownership not checked)" if ctx.local else "")


def hashing(ctx: Context) -> str:
    shared = ctx.shared_password
    one, _ = ctx.user("h1", shared)
    two, _ = ctx.user("h2", shared)
    got = ctx.read_db("cred")
    need(got is not None, "cred db not found")
    raw, db_file = got
    need(shared.encode() not in raw, "a plaintext password is in the cred db's bytes")
    cols = columns(db_file, "cred")
    need("salt" in cols and "password" in cols, f"cred table columns {cols}: no salt/password")
    rows = query(db_file, "SELECT username, password, salt FROM cred WHERE username IN (?, ?)",
                 (one.username, two.username))
    need(len(rows) == 2, f"cred rows for {one.username}, {two.username}: {len(rows)} found")
    (_, h1, s1), (_, h2, s2) = rows
    need(s1 and s2 and s1 != s2, "two users got the same (or an empty) salt")
    need(h1 != h2, "the same password hashes to the same value for two users")
    return "salted hashes, distinct salts, no plaintext in the file"


RPC_FORGE = """
import json, sys
from zoobar import rpc
try:
    rpc.client("bank").call("transfer", sender=sys.argv[1], recipient=sys.argv[2], amount=1,
                            token="forged-" + sys.argv[1])
    print(json.dumps({"accepted": True}))
except rpc.RemoteError as err:
    print(json.dumps({"accepted": False, "type": err.type}))
"""


def bank_separation(ctx: Context) -> str:
    alice, _ = ctx.user("ba")
    bob, _ = ctx.user("bb")
    resp = alice.transfer(bob.username, 1)
    need(resp.status_code == 200, f"transfer: HTTP {resp.status_code}")
    for db in ("bank", "transfer"):
        _only_in_owner(ctx, db)
    cols = _person_columns(ctx)
    need("zoobars" not in cols, "person table still has a zoobars column")
    before = zoobars_on_users_page(alice.users(alice.username).text)
    out = ctx.runner.run("dynamic", [
        "env", f"ZOOK_CONF={ctx.zook_conf}", "ZOOK_SECTION=dynamic", f"PYTHONPATH={ctx.pythonpath}",
        ctx.python, "-c", RPC_FORGE, alice.username, bob.username])
    try:
        verdict = json.loads(out.stdout)
    except ValueError:
        raise CheckFailed("forged-token transfer from dynamic: no answer ("
                          f"{out.stderr.decode(errors='replace').strip()[-200:]})") from None
    need(not verdict["accepted"], "bank accepted a transfer with a forged token")
    after = zoobars_on_users_page(alice.users(alice.username).text)
    need(before == after, f"balance moved from {before} to {after} on a forged token")
    return f"bank/transfer db only in bank; forged token refused ({verdict['type']})"


# -- profiles and the sandbox ---------------------------------------------------------

def profiles(ctx: Context) -> str:
    owner, _ = ctx.user("p")
    ctx.user("v")
    code = ("#!python\n"
            + ("import api\n" if ctx.spec["profile_api"] == "module" else "")
            + "me = api.call('get_self')\n"
            "info = api.call('get_user_info', username=me)\n"
            f"print('PROFILE-{ctx.tag} self=%s visitor=%s zoobars=%s' % "
            "(me, api.call('get_visitor'), info['zoobars']))\n")
    resp = owner.set_profile(code)
    need(resp.status_code == 200, f"saving a profile: HTTP {resp.status_code}")
    text = ctx.view_profile("v", "p")
    want = f"PROFILE-{ctx.tag} self={owner.username} visitor={ctx.user('v')[0].username} zoobars=10"
    need(want in text, f"viewing the profile does not show {want!r}")
    return "executable profile ran with get_self, get_visitor, get_user_info"


def example_profiles(ctx: Context) -> str:
    examples = ROOT / ctx.spec["examples"]    # the edition's set (profiles/, profiles/2023/)
    files = sorted(p for p in examples.glob("*.py") if p.read_text().startswith("#!python"))
    if not files:
        raise Skipped(f"no executable profiles in {examples}")
    owner, _ = ctx.user("ep")
    viewer, _ = ctx.user("ev")
    broken = []
    for path in files:
        resp = owner.set_profile(path.read_text())
        need(resp.status_code == 200, f"saving {path.name}: HTTP {resp.status_code}")
        for _ in range(2):  # twice: profiles that keep state read it back
            page = viewer.users(owner.username)
            if page.status_code != 200 or 'class="warning"' in page.text:
                note = re.search(r'class="warning">([^<]*)', page.text)
                broken.append(f"{path.name} ({note.group(1) if note else page.status_code})")
                break
    need(not broken, "example profiles failed: " + ", ".join(broken))
    return ", ".join(p.name for p in files)


FILE_OWNER = """#!python
{api_import}import os
name = {path!r}
if os.path.exists(name):
    print("OWNER-READS " + open(name).read())
else:
    with open(name, "w") as f:
        f.write("{secret}")
    print("OWNER-WROTE")
for blind in {blind!r}:   # writes the edition's grader makes where nothing should persist
    try:
        with open(blind, "w") as f:
            f.write("{secret}")
    except OSError:
        pass
"""

FILE_SNOOP = """#!python
{api_import}import os
found = []
for path in {paths!r}:
    try:
        if "{secret}" in open(path, errors="replace").read(4096):
            found.append(path)
    except OSError:
        pass
for top in ("/", "..", "../..", "/home", "/home/student/sandbox", "/app/sandbox", "/tmp"):
    try:
        for root, dirs, files in os.walk(top):
            for f in files:
                try:
                    if "{secret}" in open(os.path.join(root, f), errors="replace").read(4096):
                        found.append(os.path.join(root, f))
                except OSError:
                    pass
    except OSError:
        pass
print("SNOOP-FOUND " + ",".join(found) if found else "SNOOP-CLEAN")
"""


def sandbox_files(ctx: Context) -> str:
    secret = "s" + secrets.token_hex(8)
    owner, _ = ctx.user("fo")
    snoop, _ = ctx.user("fs")
    data = ctx.spec["profile_files"] == "data"
    path = "/data/testfile" if data else "/testfile"
    blind = ["/testfile", "/lib/testfile"] if data else []
    api_import = "import api\n" if ctx.spec["profile_api"] == "module" else ""
    owner.set_profile(FILE_OWNER.replace("{secret}", secret).format(
        api_import=api_import, path=path, blind=blind))
    snoop.set_profile(FILE_SNOOP.replace("{secret}", secret).format(
        api_import=api_import, paths=[path, *blind]))
    first = ctx.view_profile("fs", "fo")
    need("OWNER-WROTE" in first or "OWNER-READS" in first,
         "the owner's profile did not run (no OWNER-WROTE)")
    second = ctx.view_profile("fs", "fo")
    need(f"OWNER-READS {secret}" in second,
         "the owner's file did not persist between runs of its profile")
    seen = ctx.view_profile("fo", "fs")
    need("SNOOP-CLEAN" in seen or "SNOOP-FOUND" in seen, "the snooping profile did not run")
    if "SNOOP-FOUND" in seen:
        raise CheckFailed("another owner's profile found the file: " +
                          seen.split("SNOOP-FOUND", 1)[1][:120])
    return f"owner's {path} persists and is invisible to other owners" + \
        (f"; blind writes to {', '.join(blind)} invisible too" if blind else "")


ESCAPES = """#!python
import os, socket
def attempt(name, fn):
    try:
        ok = fn()
    except BaseException as err:
        ok = False
    print("ATTEMPT %s %s" % (name, "ESCAPED" if ok else "blocked"))
def fork():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return True
attempt("root", lambda: os.getuid() == 0 or os.geteuid() == 0)
attempt("etc-passwd", lambda: "root:" in open("/etc/passwd").read())
attempt("network", lambda: socket.create_connection(("{host}", {port}), 2) is not None)
attempt("fork", fork)
attempt("token-in-env", lambda: any("TOKEN" in k.upper() for k in os.environ))
attempt("proc-environ", lambda: b"TOKEN" in open("/proc/1/environ", "rb").read().upper())
"""
ESCAPE_NAMES = ("root", "etc-passwd", "network", "fork", "token-in-env", "proc-environ")


def sandbox_escapes(ctx: Context) -> str:
    target = ctx.row("auth") or ctx.row("main")
    owner, _ = ctx.user("x")
    owner.set_profile(ESCAPES.replace("{host}", target["host"])
                      .replace("{port}", str(target["port"])))
    text = ctx.view_profile("a", "x")
    escaped = [n for n in ESCAPE_NAMES if f"ATTEMPT {n} ESCAPED" in text]
    missing = [n for n in ESCAPE_NAMES if f"ATTEMPT {n} " not in text]
    need(not escaped, f"escaped the sandbox: {', '.join(escaped)}")
    need(not missing, f"escape profile did not report: {', '.join(missing)} "
                      f"(page: {text[:160]!r})")
    return "blocked: " + ", ".join(ESCAPE_NAMES)


# -- challenges -------------------------------------------------------------------------

def challenge_honeychecker(ctx: Context) -> str:
    row = ctx.row("honeychecker")
    if row is None:
        raise Skipped("no honeychecker row in the service table")
    ctx.user("a")
    _only_in_owner(ctx, "honeychecker")
    need("auth" in row["callers"] and row["callers"] == ["auth"],
         f"honeychecker accepts {row['callers']}, expected auth only")
    return "honeychecker db only in honeychecker, reachable from auth only"


def challenge_profilestore(ctx: Context) -> str:
    if ctx.row("profilestore") is None:
        raise Skipped("no profilestore row in the service table")
    owner, _ = ctx.user("ps")
    marker = f"stored-{ctx.tag}-profile"
    owner.set_profile(marker)
    _only_in_owner(ctx, "profile")
    need("profile" not in _person_columns(ctx), "person table still has a profile column")
    got = ctx.read_db("profile")
    need(got is not None and marker.encode() in got[0], "profile text not in profilestore's db")
    person = ctx.read_db("person")
    need(person is not None and marker.encode() not in person[0],
         "profile text also stored in the person db")
    text = ctx.view_profile("a", "ps")
    need(marker in text, "stored profile not shown on the users page")
    return "profiles kept only by profilestore"


def exercises(rows: list[dict], spec: dict | None = None) -> list[tuple[str, str, object]]:
    """(id, title, check) in grading order for the edition ``spec`` (default:
    group_vars' default edition); the firewall ones follow the table; the
    edition's state checks come first (they empty the site), its own last."""
    spec = spec or editions.table()[editions.default()]
    first, last = edition_checks.edition_exercises(spec)
    out = first + [
        ("app", "zoobar works: register, login, 10 zoobars, transfer, users page, log, echo", app),
        ("split", "static and dynamic content served by separate services", split),
    ]
    out += [(f"firewall-{r['name']}", f"firewall: only the table's callers reach {r['name']}",
             firewall(r["name"])) for r in rows]
    out += [
        ("auth-separation", "auth: credentials only in auth's database", auth_separation),
        ("hashing", "auth: passwords stored as salted hashes", hashing),
        ("bank-separation", "bank: zoobars only in the bank, transfers need a token",
         bank_separation),
        ("profiles", "profiles: executable profiles run with the API", profiles),
        ("example-profiles", "profiles: every example profile runs", example_profiles),
        ("sandbox-files", "sandbox: each owner's files are private and persist", sandbox_files),
        ("sandbox-escapes", "sandbox: escape attempts fail", sandbox_escapes),
        ("challenge-honeychecker", "challenge: honeychecker", challenge_honeychecker),
        ("challenge-profilestore", "challenge: profile store", challenge_profilestore),
    ]
    return out + last


def run(ctx: Context, only: list[str] | None = None, out=sys.stdout) -> tuple[int, int, int]:
    """Grade; print one PASS/FAIL/SKIP line per exercise; return (passed, failed, skipped)."""
    passed = failed = skipped = 0
    for ident, title, check in exercises(ctx.rows, ctx.spec):
        if only and not any(ident.startswith(o) for o in only):
            continue
        start = time.monotonic()
        try:
            note = check(ctx)
        except Skipped as why:
            skipped += 1
            print(f"SKIP: {title} [{ident}]: {why}", file=out, flush=True)
            continue
        except (CheckFailed, requests.RequestException, sqlite3.Error, OSError) as err:
            failed += 1
            print(f"FAIL: {title} [{ident}]: {err}", file=out, flush=True)
            continue
        passed += 1
        print(f"PASS: {title} [{ident}] ({note}; {time.monotonic() - start:.1f}s)", file=out,
              flush=True)
    return passed, failed, skipped
