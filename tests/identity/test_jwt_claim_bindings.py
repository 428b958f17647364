"""``required_claims`` as an object and ``scope_map`` (SPEC 3.3), against a real JWKS server."""

from __future__ import annotations

from tests.identity.test_jwt_authentication import reason


def test_it_accepts_a_token_whose_claim_equals_the_bound_value(jwt_world, jwks):
    jwt_world.configure(jwks_url=jwks.url, required_claims={"org_id": "acme"})
    assert jwt_world.call(jwt_world.token(org_id="acme")).status_code == 200
    assert reason(jwt_world.call(jwt_world.token(org_id="globex"))) == (401, "invalid_claims")
    assert reason(jwt_world.call(jwt_world.token())) == (401, "invalid_claims")


def test_it_accepts_any_of_several_values(jwt_world, jwks):
    jwt_world.configure(jwks_url=jwks.url, required_claims={"workspace": ["ws-1", "ws-2"]})
    assert jwt_world.call(jwt_world.token(workspace="ws-2")).status_code == 200
    assert reason(jwt_world.call(jwt_world.token(workspace="ws-3"))) == (401, "invalid_claims")


def test_an_array_claim_must_contain_one_of_the_values(jwt_world, jwks):
    jwt_world.configure(jwks_url=jwks.url, required_claims={"groups": ["ai-users"]})
    assert jwt_world.call(jwt_world.token(groups=["staff", "ai-users"])).status_code == 200
    assert reason(jwt_world.call(jwt_world.token(groups=["staff"]))) == (401, "invalid_claims")
    assert reason(jwt_world.call(jwt_world.token(groups=[]))) == (401, "invalid_claims")


def test_values_compare_exactly_by_type(jwt_world, jwks):
    jwt_world.configure(jwks_url=jwks.url, required_claims={"tier": 1, "verified": True})
    assert jwt_world.call(jwt_world.token(tier=1, verified=True)).status_code == 200
    assert reason(jwt_world.call(jwt_world.token(tier="1", verified=True))) == (401, "invalid_claims")
    assert reason(jwt_world.call(jwt_world.token(tier=1, verified=1))) == (401, "invalid_claims")
    assert reason(jwt_world.call(jwt_world.token(tier=True, verified=True))) == (401, "invalid_claims")


def test_every_bound_claim_must_match(jwt_world, jwks):
    jwt_world.configure(jwks_url=jwks.url, required_claims={"org_id": "acme", "env": "prod"})
    assert jwt_world.call(jwt_world.token(org_id="acme", env="prod")).status_code == 200
    assert reason(jwt_world.call(jwt_world.token(org_id="acme", env="dev"))) == (401, "invalid_claims")


def test_a_changed_binding_applies_to_a_token_already_cached(jwt_world, jwks):
    token = jwt_world.token(org_id="acme")
    assert jwt_world.call(token).status_code == 200
    jwt_world.configure(jwks_url=jwks.url, required_claims={"org_id": "globex"})
    assert reason(jwt_world.call(token)) == (401, "invalid_claims")


def test_scope_map_renames_token_scopes_before_the_check(jwt_world, jwks):
    jwt_world.configure(jwks_url=jwks.url, scope_map={"portkey.completions.write": "chat:completions"})
    assert jwt_world.call(jwt_world.token(scope="portkey.completions.write")).status_code == 200
    assert reason(jwt_world.call(jwt_world.token(scope="portkey.models.read"))) == (403, "scope_missing")


def test_scope_map_applies_to_array_and_configured_scope_claims(jwt_world, jwks):
    jwt_world.configure(jwks_url=jwks.url, scope_claims=["scp"], scope_map={"completions": "chat:completions"})
    assert jwt_world.call(jwt_world.token(scope=None, scp=["completions"])).status_code == 200


def test_a_renamed_scope_no_longer_counts_under_its_own_name(jwt_world, jwks):
    # Renaming, not adding: a token scope mapped elsewhere stops being that scope.
    jwt_world.configure(jwks_url=jwks.url, scope_map={"chat:completions": "embeddings"})
    assert reason(jwt_world.call(jwt_world.token(scope="chat:completions"))) == (403, "scope_missing")
