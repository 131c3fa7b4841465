"""Cross-site form submissions are refused: a POST whose ``Sec-Fetch-Site`` says
cross-site, or whose ``Origin`` is another site (or opaque), gets 403."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import abort, request

REFUSED = "cross-site form submissions are refused"


def refuse_cross_site_post() -> None:
    if request.method != "POST":
        return
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        abort(403, description=REFUSED)
    origin = request.headers.get("Origin")
    if origin is None:
        return
    parts = urlsplit(origin)
    if origin == "null" or not parts.netloc or parts.netloc.lower() != request.host.lower():
        abort(403, description=REFUSED)
