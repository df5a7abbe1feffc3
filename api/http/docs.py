"""``GET /docs``: Swagger UI over ``/openapi.json``, every file served by the app itself.

The Swagger UI files come from the ``swagger-ui-bundle-v2`` package, so the page works on a
network with no way out. The page has its own Content-Security-Policy: scripts and styles
from this origin only, requests ("Try it out") to this origin only.
"""

from __future__ import annotations

from importlib import metadata

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    render_template_string,
    send_from_directory,
    url_for,
)
from swagger_ui_bundle import swagger_ui_path

from api.http import openapi

DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)

# The only files of the bundle the page loads; nothing else in the package is served.
ASSETS = frozenset(
    {"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png", "favicon-16x16.png"}
)
# Swagger UI's files are served under the version of the package that holds them, so a new
# version is a new URL and a browser may keep each file for a year without asking again.
BUNDLE_VERSION = metadata.version("swagger-ui-bundle-v2")
BUNDLE_MAX_AGE = 365 * 24 * 3600
# The initializer is Tessera's own script, under a URL that does not change: kept an hour.
INITIALIZER_MAX_AGE = 3600

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Tessera API</title>
  <link rel="stylesheet" href="{{ asset('swagger-ui.css') }}">
  <link rel="icon" type="image/png" sizes="32x32"
        href="{{ asset('favicon-32x32.png') }}">
</head>
<body>
  <div id="swagger-ui" data-spec-url="{{ url_for('api-docs.openapi_json') }}"></div>
  <script src="{{ asset('swagger-ui-bundle.js') }}"></script>
  <script src="{{ url_for('docs.initializer') }}"></script>
</body>
</html>
"""

# No inline script (the CSP forbids it): the page's one setting, the document URL, is read
# from a data attribute. No validator badge (it would call out to the internet) and no
# remembered token (it would sit in localStorage). One plugin: a response holding a QR code
# (``qr_svg`` of ``POST /mfa/totp``) shows it as an image under the body, so a person can
# enrol an authenticator from this page. An SVG in an <img> runs no script, and the CSP's
# ``img-src data:`` lets it load.
INITIALIZER = """function qrSvgOf(content) {
  var body = content;
  if (typeof content === "string") {
    if (content.indexOf("qr_svg") < 0) { return null; }
    try { body = JSON.parse(content); } catch (e) { return null; }
  } else if (content && typeof content.toJS === "function") {
    body = content.toJS();
  }
  var svg = body && body.qr_svg;
  return typeof svg === "string" && svg.lastIndexOf("<svg", 0) === 0 ? svg : null;
}

function QrCodePlugin() {
  return {
    wrapComponents: {
      responseBody: function (Original, system) {
        var React = system.React;
        return function (props) {
          var original = React.createElement(Original, props);
          var svg = qrSvgOf(props.content);
          if (!svg) { return original; }
          return React.createElement("div", null, original, React.createElement("img", {
            className: "tessera-qr-code",
            alt: "QR code of the otpauth URI: scan it with an authenticator app",
            src: "data:image/svg+xml;charset=utf-8," + encodeURIComponent(svg)
          }));
        };
      }
    }
  };
}

window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    persistAuthorization: false,
    presets: [SwaggerUIBundle.presets.apis],
    plugins: [QrCodePlugin],
    layout: "BaseLayout"
  });
});
"""

blp = Blueprint("docs", __name__)


@blp.route("/docs", methods=["GET"])
def docs_page() -> Response:
    """Serve the Swagger UI page."""
    page = render_template_string(PAGE, asset=_asset_url)
    response = Response(page, mimetype="text/html")
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


@blp.route("/docs/swagger-initializer.js", methods=["GET"])
def initializer() -> Response:
    """Serve the script that starts Swagger UI on the page."""
    response = Response(INITIALIZER, mimetype="text/javascript")
    response.cache_control.public = True
    response.cache_control.max_age = INITIALIZER_MAX_AGE
    return response


def _asset_url(name: str) -> str:
    return url_for("docs.asset", version=BUNDLE_VERSION, name=name)


@blp.route("/docs/assets/<version>/<name>", methods=["GET"])
def asset(version: str, name: str) -> Response:
    """Serve one of Swagger UI's own files from the installed package, cacheable for good.

    Only under the installed version: a page of another version (from a server not yet
    upgraded, or cached) gets 404 rather than files it was not written for, cached for a year.
    """
    if version != BUNDLE_VERSION or name not in ASSETS:
        abort(404)
    response = send_from_directory(swagger_ui_path, name, max_age=BUNDLE_MAX_AGE)
    response.cache_control.immutable = True
    return response


def init_app(app: Flask) -> None:
    """Register the docs page and describe it in the OpenAPI document."""
    app.register_blueprint(blp)
    summary = "Interactive documentation (Swagger UI), served by the app."
    openapi.document_page(app, "docs.docs_page", summary, "text/html")
