"""The console's form of an app's JWT verifier (SPEC 3.3): one field per setting instead of a
JSON box. It only translates between fields and the settings object; the rules are
``apps.jwt_settings.jwt_settings_clean``, which every write runs."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from apps.jwt_settings import ASYMMETRIC_ALGORITHMS
from core.validation import GATEWAY_SCOPES

MODE_OFF = "off"
MODES = [
    (MODE_OFF, "Header only (no JWT accepted)"),
    ("jwks_url", "JWKS URL (keys fetched and cached)"),
    ("jwks_json", "JWKS document (pasted)"),
    ("public_key_pem", "PEM public key (pasted)"),
]
JWT_FORM_FIELDS = [
    "jwt_mode", "jwt_jwks_url", "jwt_jwks_json", "jwt_public_key_pem", "jwt_agent", "jwt_algorithms",
    "jwt_issuer", "jwt_audience", "jwt_required_claims", "jwt_scope_map", "jwt_leeway_seconds",
    "jwt_user_claims", "jwt_scope_claims",
]  # fmt: skip
REQUIRED_CLAIMS_HELP = (
    "One per line: <code>claim</code> (must be present), or <code>claim = value, value</code> (must equal "
    "one of the values; an array claim must contain one). Values are text; write <code>1</code> or "
    '<code>true</code> for a number or boolean, <code>"1"</code> for the text 1.'
)
SCOPE_MAP_HELP = (
    "One per line: <code>token scope = gateway scope</code>, the gateway scope one of "
    + ", ".join(f"<code>{s}</code>" for s in GATEWAY_SCOPES)
    + ". Renamed before the scope check."
)


def _text(**kwargs: Any) -> forms.CharField:
    return forms.CharField(required=False, strip=True, **kwargs)


class JwtSettingsFields(forms.Form):
    """The fields, declared once; ``apps.admin.AppForm`` inherits them."""

    jwt_mode = forms.ChoiceField(label="Identity mode", choices=MODES, initial=MODE_OFF, widget=forms.RadioSelect)
    jwt_jwks_url = _text(label="JWKS URL", widget=forms.URLInput(attrs={"size": 80}))
    jwt_jwks_json = _text(label="JWKS document", widget=forms.Textarea(attrs={"rows": 6, "cols": 80}))
    jwt_public_key_pem = _text(
        label="PEM public key",
        widget=forms.Textarea(attrs={"rows": 8, "cols": 80, "placeholder": "-----BEGIN PUBLIC KEY-----"}),
    )
    jwt_agent = forms.ChoiceField(
        label="Acts as agent", required=False, help_text="Tokens act as this agent: its models, policies, budgets."
    )
    jwt_algorithms = forms.MultipleChoiceField(
        label="Algorithms", required=False, choices=[(a, a) for a in ASYMMETRIC_ALGORITHMS], initial=["RS256"],
        widget=forms.CheckboxSelectMultiple,
    )  # fmt: skip
    jwt_issuer = _text(label="Issuer (iss)", widget=forms.TextInput(attrs={"size": 80}))
    jwt_audience = _text(label="Audience (aud)", help_text="Several: separate with commas.")
    jwt_required_claims = _text(label="Required claims", widget=forms.Textarea(attrs={"rows": 4, "cols": 60}))
    jwt_scope_map = _text(label="Scope map", widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))
    jwt_leeway_seconds = forms.IntegerField(label="Leeway (seconds)", initial=30, min_value=0, max_value=3600)
    jwt_user_claims = _text(label="User claims", help_text="Looked at before email_id, email, sub, uid; commas.")
    jwt_scope_claims = _text(label="Scope claims", help_text="Looked at before scope and scopes (e.g. scp); commas.")


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _claim_value_parse(raw: str) -> Any:
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    return value if isinstance(value, str | int | float | bool) else raw


def _claim_value_show(value: Any) -> str:
    if isinstance(value, str) and _claim_value_parse(value) == value and "," not in value:
        return value
    return json.dumps(value)


def required_claims_parse(text: str) -> list[str] | dict[str, list] | None:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    bound = [line for line in lines if "=" in line]
    if not bound:
        return lines
    if len(bound) != len(lines):
        raise ValidationError({"jwt_required_claims": "either every line names a value (claim = value) or none does"})
    claims: dict[str, list] = {}
    for line in lines:
        name, _, values = line.partition("=")
        claims[name.strip()] = [_claim_value_parse(v) for v in _split(values)]
    return claims


def required_claims_show(value: Any) -> str:
    if isinstance(value, dict):
        return "\n".join(
            f"{name} = {', '.join(_claim_value_show(v) for v in values)}" for name, values in value.items()
        )
    return "\n".join(value or [])


def scope_map_parse(text: str) -> dict[str, str] | None:
    mapping: dict[str, str] = {}
    for line in (line.strip() for line in text.splitlines()):
        if not line:
            continue
        name, sep, target = line.partition("=")
        if not sep:
            raise ValidationError({"jwt_scope_map": f"{line[:60]!r} is not 'token scope = gateway scope'"})
        mapping[name.strip()] = target.strip()
    return mapping or None


def jwt_form_initial(settings: dict[str, Any] | None) -> dict[str, Any]:
    """The fields' values for stored settings (None: header only)."""
    if not settings:
        return {"jwt_mode": MODE_OFF}
    mode = next((source for source, _ in MODES if source in settings), MODE_OFF)
    document = settings.get("jwks_json")
    audience = settings.get("audience")
    return {
        "jwt_mode": mode,
        "jwt_jwks_url": settings.get("jwks_url", ""),
        "jwt_jwks_json": json.dumps(document, indent=2) if isinstance(document, dict) else (document or ""),
        "jwt_public_key_pem": settings.get("public_key_pem", ""),
        "jwt_agent": settings.get("agent_id", ""),
        "jwt_algorithms": settings.get("algorithms", ["RS256"]),
        "jwt_issuer": settings.get("issuer", ""),
        "jwt_audience": ", ".join(audience) if isinstance(audience, list) else (audience or ""),
        "jwt_required_claims": required_claims_show(settings.get("required_claims")),
        "jwt_scope_map": "\n".join(f"{k} = {v}" for k, v in (settings.get("scope_map") or {}).items()),
        "jwt_leeway_seconds": settings.get("leeway_seconds", 30),
        "jwt_user_claims": ", ".join(settings.get("user_claims", [])),
        "jwt_scope_claims": ", ".join(settings.get("scope_claims", [])),
    }


def jwt_settings_from_form(data: dict[str, Any]) -> dict[str, Any] | None:
    """The settings object the fields describe (None: header only), still to be validated by
    ``jwt_settings_clean``. Fields of the other modes are ignored, not refused."""
    mode = data.get("jwt_mode") or MODE_OFF
    if mode == MODE_OFF:
        return None
    source = data.get(f"jwt_{mode}") or ""
    if not source:
        raise ValidationError({f"jwt_{mode}": "required in this mode"})
    settings: dict[str, Any] = {mode: source, "agent_id": data.get("jwt_agent") or ""}
    settings["algorithms"] = list(data.get("jwt_algorithms") or ["RS256"])
    if data.get("jwt_issuer"):
        settings["issuer"] = data["jwt_issuer"]
    audience = _split(data.get("jwt_audience") or "")
    if audience:
        settings["audience"] = audience[0] if len(audience) == 1 else audience
    required = required_claims_parse(data.get("jwt_required_claims") or "")
    if required is not None:
        settings["required_claims"] = required
    scope_map = scope_map_parse(data.get("jwt_scope_map") or "")
    if scope_map is not None:
        settings["scope_map"] = scope_map
    if data.get("jwt_leeway_seconds") is not None:
        settings["leeway_seconds"] = data["jwt_leeway_seconds"]
    for name in ("user_claims", "scope_claims"):
        values = _split(data.get(f"jwt_{name}") or "")
        if values:
            settings[name] = values
    return settings
