"""WSGI entry point for gunicorn: ``gunicorn zoobar.wsgi:app``.

zookd2 forwards the whole request path (``/zoobar/index.cgi/users``); the
application's own URLs live under that prefix, exactly as when zookfs runs
``index.cgi`` (which sets SCRIPT_NAME itself), so both entry points produce the
same links.
"""

from __future__ import annotations

from zoobar.frontend import create_app

SCRIPT_NAME = "/zoobar/index.cgi"


class MountAtScriptName:
    """Move the ``/zoobar/index.cgi`` prefix of PATH_INFO into SCRIPT_NAME."""

    def __init__(self, app, prefix: str = SCRIPT_NAME):
        self.app = app
        self.prefix = prefix

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == self.prefix or path.startswith(self.prefix + "/"):
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "").rstrip("/") + self.prefix
            environ["PATH_INFO"] = path[len(self.prefix):]
        return self.app(environ, start_response)


flask_app = create_app()
app = MountAtScriptName(flask_app)
