"""One side of bench/ab: run inside a tree (cwd and PYTHONPATH = that tree), so
that the stack is that tree's code. Starts a local stack (tests/stack.py),
registers `viewer`, `owner` (hello-user profile) and `plain` (a plain profile),
prints one JSON line (the site's base URL, the stack's zook.conf, the viewer's
cookies) and keeps the stack up until its stdin closes."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from bench import benchlib
from tests.stack import running_stack

VIEWS = "8"     # the profile service's view bounds: this measures, not the bounds


def main() -> int:
    hello = (Path.cwd() / "profiles" / "hello-user.py").read_text()
    env = {"ZOOBAR_PROFILE_VIEWS_PER_OWNER": VIEWS, "ZOOBAR_PROFILE_VIEWS_PER_VISITOR": VIEWS}
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp, \
            running_stack(Path(tmp), env=env) as stack:
        viewer = benchlib.user(stack.base, "viewer", "pw-viewer")
        benchlib.user(stack.base, "owner", "pw-owner").set_profile(hello).raise_for_status()
        benchlib.user(stack.base, "plain", "pw-plain").set_profile(
            "Hello from a plain profile.").raise_for_status()
        print(json.dumps({"base": stack.base, "conf": str(stack.conf_path),
                          "cookies": viewer.http.cookies.get_dict()}), flush=True)
        sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main())
