"""A confirmation page before a key is revoked or rotated from the console.

The key admin's actions (``keys/admin.py``) do the work; this page only asks first. The
list and change pages of keys send the chosen action here (``console/key_actions.js``); the
page shows what will happen to which keys and, when confirmed, posts the same action to the
key list. The keys are read through the key admin's own queryset, so a foreign or unknown
id is simply not there.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from keys.models import Key
from tenants.access import console_access

KEY_ACTIONS = {
    "revoke_keys": {
        "verb": "Revoke",
        "consequence": "Each key stops working within a second, on every gateway process. This cannot be undone.",
    },
    "rotate_keys": {
        "verb": "Rotate",
        "consequence": (
            "Each key gets a successor with the same settings and a new secret, shown once on the next page. "
            "The old secret stops working now."
        ),
    },
    "rotate_keys_with_grace": {
        "verb": "Rotate",
        "consequence": (
            "Each key gets a successor with the same settings and a new secret, shown once on the next page. "
            "The old secret keeps working for 24 more hours, then stops."
        ),
    },
}


def _confirm(request: HttpRequest) -> HttpResponse:
    access = console_access(request)
    if access is None or not access.can_write:
        raise PermissionDenied
    action = request.GET.get("action", "")
    if action not in KEY_ACTIONS:
        raise Http404("no such key action")
    key_admin = admin.site.get_model_admin(Key)
    keys = list(
        key_admin.get_queryset(request).filter(pk__in=request.GET.getlist("ids")).select_related("agent", "app")
    )
    if not keys:
        raise Http404("no such key")
    changelist = reverse("admin:keys_key_changelist")
    back = request.GET.get("next") or changelist
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=False):
        back = changelist
    context: dict[str, Any] = {
        **admin.site.each_context(request),
        "title": f"{KEY_ACTIONS[action]['verb']} {len(keys)} key{'s' if len(keys) != 1 else ''}?",
        "action": action,
        "details": KEY_ACTIONS[action],
        "keys": keys,
        "post_url": changelist,
        "back_url": back,
        "opts": Key._meta,
    }
    return TemplateResponse(request, "console/key_confirm.html", context)


key_confirm_view = admin.site.admin_view(_confirm)
