"""Static files (admin and console CSS/JS) are served by the gateway itself, DEBUG or not."""

from __future__ import annotations

import pytest
from django.test import override_settings


@pytest.mark.parametrize("debug", [True, False])
@pytest.mark.parametrize(
    "path", ["admin/css/base.css", "admin/js/theme.js", "console/console.css", "console/admin.js",
             "console/playground.js"],
)  # fmt: skip
def test_it_serves_the_finders_files(client, path, debug):
    with override_settings(DEBUG=debug):
        response = client.get(f"/static/{path}")
    assert response.status_code == 200
    assert response.content
    assert "max-age" in response["Cache-Control"]
    assert response["Content-Type"].startswith("text/css" if path.endswith(".css") else "text/javascript")


def test_it_answers_not_modified_to_a_fresh_copy(client):
    first = client.get("/static/console/console.css")
    again = client.get("/static/console/console.css", HTTP_IF_MODIFIED_SINCE=first["Last-Modified"])
    assert again.status_code == 304


@pytest.mark.parametrize(
    "path", ["../config/settings/base.py", "admin/../../manage.py", "console/%2e%2e/%2e%2e/manage.py",
             "admin/css/missing.css", "/etc/passwd", "admin\\css\\base.css"],
)  # fmt: skip
def test_it_refuses_paths_outside_the_static_folders(client, path):
    with override_settings(DEBUG=False):
        assert client.get(f"/static/{path}").status_code == 404


def test_the_api_docs_assets_keep_their_own_route(client, db):  # db: closing a response closes old connections
    response = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css")
    assert response.status_code == 200
    response.close()
