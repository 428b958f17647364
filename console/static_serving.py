"""Static files (the admin's and the console's CSS and JavaScript) under the ASGI server.

Django serves static files only from ``runserver`` with DEBUG on; the gateway runs under
uvicorn or gunicorn (``make run``, ``make serve``), so without this route the console would
have no styles. The files are the staticfiles finders' (app ``static/`` folders, including
this app's vendored scripts): public by design, so serving them with DEBUG off is safe. A
deployment behind a web server or a CDN can still serve ``collectstatic``'s output itself.

The file is read into memory rather than streamed: these are small files, and a streamed
``FileResponse`` would be read whole by Django's ASGI handler anyway (with a warning).
"""

from __future__ import annotations

import mimetypes
import posixpath
from pathlib import Path

from django.contrib.staticfiles import finders
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.utils.http import http_date
from django.views.static import was_modified_since

CACHE_CONTROL = "public, max-age=3600"  # names carry no version: reuse for an hour, then revalidate


def static_asset(request: HttpRequest, path: str) -> HttpResponse:
    """One file found by the staticfiles finders; ``..``, backslashes and absolute paths are refused."""
    if "\\" in path or "\x00" in path or ".." in path.split("/") or posixpath.isabs(path):
        raise Http404(path)
    found = finders.find(posixpath.normpath(path))
    if not found or not Path(found).is_file():
        raise Http404(path)
    file = Path(found)
    modified = file.stat().st_mtime
    if not was_modified_since(request.META.get("HTTP_IF_MODIFIED_SINCE"), modified):
        return HttpResponseNotModified()
    content_type, encoding = mimetypes.guess_type(file.name)
    response = HttpResponse(file.read_bytes(), content_type=content_type or "application/octet-stream")
    response["Last-Modified"] = http_date(modified)
    response["Cache-Control"] = CACHE_CONTROL
    if encoding:
        response["Content-Encoding"] = encoding
    return response
