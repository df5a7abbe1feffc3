"""The URL a client addressed a request to, without its query: what a DPoP proof's ``htu`` names.

With ``PUBLIC_URL`` set, its scheme, host, port (and any path in front of the app's) are the
ones clients use, whatever the request's ``Host`` says: a proof made for another host is refused
even when that host is sent in ``Host`` (RFC 9449 section 4.3, step 9). Unset, they are the
request's own: its scheme and ``Host``, or behind ``TRUSTED_PROXIES`` the ``X-Forwarded-Proto``,
``-Host`` and ``-Port`` of the trusted hop, read as werkzeug's ``ProxyFix`` reads them. Behind a
proxy, set ``PUBLIC_URL``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Request, current_app
from werkzeug.http import parse_list_header
from werkzeug.sansio.utils import get_current_url


def request_url(request: Request) -> str:
    """Return the URL the client addressed ``request`` to, without query or fragment."""
    public = current_app.config["PUBLIC_URL"]
    if public:
        parts = urlsplit(public)
        root = parts.path.rstrip("/") + request.root_path
        return get_current_url(parts.scheme, parts.netloc, root, request.path)
    host = _forwarded_host(request, int(current_app.config["TRUSTED_PROXIES"]))
    return get_current_url(request.scheme, host, request.root_path, request.path)


def _forwarded_host(request: Request, hops: int) -> str:
    """The request's host and port, those of the trusted hop's ``X-Forwarded-`` headers."""
    host = request.host
    forwarded_host = _trusted(request.headers.get("X-Forwarded-Host"), hops)
    if forwarded_host:
        host = forwarded_host
    forwarded_port = _trusted(request.headers.get("X-Forwarded-Port"), hops)
    if forwarded_port:
        if ":" in host and not host.endswith("]"):
            host = host.rsplit(":", 1)[0]
        host = f"{host}:{forwarded_port}"
    return host


def _trusted(value: str | None, hops: int) -> str | None:
    """The value the trusted hop added to a list header (``ProxyFix._get_real_value``)."""
    if not (hops and value):
        return None
    values = parse_list_header(value)
    return values[-hops] if len(values) >= hops else None
