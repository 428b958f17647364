"""Check a token against an app: the decoded header and claims, and every check the proxy
makes, each passed, failed (with the proxy's answer) or not run.

The checks are the proxy's own (``proxy.jwt_verification.token_inspect``) on the app as the
proxy loads it (``proxy.config_loading``), revocations included; nothing is cached or recorded,
and the token is not kept anywhere.
"""

from __future__ import annotations

import json

from asgiref.sync import async_to_sync
from django import forms
from django.http import Http404, HttpResponse
from django.template.response import TemplateResponse

from apps.selectors import app_get
from console.access import ConsoleRequest, console_context, console_page
from proxy.config_loading import tenant_config_load
from proxy.jwt_verification import TokenVerifier, token_inspect

MAX_TOKEN_CHARS = 16_384


class TokenCheckForm(forms.Form):
    token = forms.CharField(
        label="Token", max_length=MAX_TOKEN_CHARS, strip=True,
        widget=forms.Textarea(attrs={"rows": 5, "cols": 100, "spellcheck": "false", "autocomplete": "off"}),
    )  # fmt: skip


@console_page
def app_token_check_view(request: ConsoleRequest, app_id: str) -> HttpResponse:
    app = app_get(tenant_id=request.console.tenant_id, app_id=app_id)
    if app is None:
        raise Http404("no such app")
    form = TokenCheckForm(request.POST or None)
    inspection = None
    if request.method == "POST" and form.is_valid() and app.jwt is not None:
        config = tenant_config_load(app.tenant_id, 0)
        entry = config.apps[app.pk] if config is not None else None
        if entry is not None and entry.jwt is not None:
            inspection = async_to_sync(token_inspect)(TokenVerifier(), entry, form.cleaned_data["token"])
    context = console_context(
        request,
        title=f"Check a token: {app.name}",
        console_section="apps",
        app=app,
        form=form,
        inspection=inspection,
        header_json=json.dumps(inspection.header, indent=2) if inspection and inspection.header else None,
        claims_json=json.dumps(inspection.claims, indent=2, default=str) if inspection and inspection.claims else None,
    )
    return TemplateResponse(request, "console/app_token_check.html", context)
