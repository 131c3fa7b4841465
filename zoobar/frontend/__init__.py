"""The zoobar front end (``dynamic``): a Flask application factory.

It holds no password, token or balance of its own: credentials go to auth,
zoobars to the bank, profile texts to the profile store, and the only data it
owns is the ``person`` table (who exists). The visitor's token travels in the
session cookie and is checked with auth on every request.
"""

from __future__ import annotations

from flask import Flask, render_template

from zoobar import rpc, zookconf
from zoobar.frontend import crosssite, echo, headers, home, login, transfer, users, visitor

MAX_REQUEST_BYTES = 2 * 1024 * 1024


def create_app() -> Flask:
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
                      MAX_FORM_MEMORY_SIZE=MAX_REQUEST_BYTES)
    app.before_request(crosssite.refuse_cross_site_post)
    app.before_request(visitor.load_visitor)
    app.after_request(headers.security_headers)
    for area in (login, home, transfer, users, echo):
        app.register_blueprint(area.bp)

    @app.errorhandler(rpc.RpcUnavailable)
    def unavailable(err):
        return render_template("error.html", title="Service unavailable",
                               message=f"A zoobar service is not answering ({err}). "
                                       "Please try again in a moment."), 503

    @app.errorhandler(rpc.RemoteError)
    def remote_error(err):
        return render_template("error.html", title="Request failed",
                               message=str(err.message)), 502

    @app.errorhandler(zookconf.ConfError)
    def misconfigured(err):
        app.logger.error("zook.conf: %s", err)
        return render_template("error.html", title="Configuration error",
                               message="The site is misconfigured; the operator has been told "
                                       "in the front end's log."), 500

    @app.errorhandler(403)
    def forbidden(err):
        return render_template("error.html", title="Forbidden",
                               message=err.description), 403

    return app
