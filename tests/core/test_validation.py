"""Shared validators (core.validation): restriction lists, model globs, domains, emails."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from core.validation import domains_clean, globs_clean, is_email, restriction_list_clean


def test_it_reads_null_as_no_restriction():
    assert restriction_list_clean(None, field="allowed_models") is None
    assert globs_clean(None) is None
    assert domains_clean(None) is None


def test_it_refuses_an_empty_restriction_list():
    with pytest.raises(ValidationError) as caught:
        restriction_list_clean([], field="allowed_endpoints")

    assert "allowed_endpoints" in caught.value.message_dict


def test_it_accepts_an_empty_list_where_the_field_allows_it():
    assert domains_clean([], allow_empty=True) == []


@pytest.mark.parametrize("value", ["gpt-4o", [1, 2], ["ok", None], {"a": 1}])
def test_it_refuses_what_is_not_a_list_of_strings(value):
    with pytest.raises(ValidationError):
        restriction_list_clean(value, field="allowed_models")


@pytest.mark.parametrize("patterns", [["gpt-4o"], ["gpt-4o*", "claude-*"], ["mock-?"], ["[abc]*"], ["*"]])
def test_it_accepts_sane_model_globs(patterns):
    assert globs_clean(patterns) == patterns


@pytest.mark.parametrize("pattern", ["", " gpt-4o", "gpt-4o ", "x" * 201])
def test_it_refuses_blank_padded_or_overlong_globs(pattern):
    with pytest.raises(ValidationError) as caught:
        globs_clean([pattern])

    assert "allowed_models" in caught.value.message_dict


def test_it_refuses_an_empty_glob_list():
    with pytest.raises(ValidationError):
        globs_clean([])


def test_it_lower_cases_domains():
    assert domains_clean(["Example.COM", "corp.example.org"]) == ["example.com", "corp.example.org"]


@pytest.mark.parametrize("domain", ["localhost", "exa mple.com", "-bad.com", "@example.com", "example.com.", ""])
def test_it_refuses_what_is_not_a_domain_name(domain):
    with pytest.raises(ValidationError) as caught:
        domains_clean([domain])

    assert "allowed_user_domains" in caught.value.message_dict


@pytest.mark.parametrize("email", ["alice@example.com", "a.b+tag@sub.example.co.uk"])
def test_it_accepts_email_addresses(email):
    assert is_email(email)


@pytest.mark.parametrize("email", ["alice", "alice@", "@example.com", "alice@localhost", "a b@example.com", ""])
def test_it_refuses_what_is_not_an_email_address(email):
    assert not is_email(email)
