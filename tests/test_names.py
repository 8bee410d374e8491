"""App host slugs: valid DNS labels, never reserved, injective."""

import re

import pytest

from imad_extension.errors import BadRequest
from imad_extension.names import app_slug, validate_username

LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@pytest.mark.parametrize(
    "name, slug",
    [("alice", "alice"), ("bob-2", "bob-2"), ("a1", "a1")],
)
def test_valid_names_map_to_themselves(name, slug):
    assert app_slug(name) == slug


@pytest.mark.parametrize(
    "name",
    ["www", "hub", "api", "admin", "Alice", "a.b", "a_b", "-x", "x-", "é", "a" * 64,
     "alice-x0123456789ab", "名前", "a--b."],
)  # fmt: skip
def test_other_names_get_a_valid_hashed_label(name):
    slug = app_slug(name)
    assert LABEL.match(slug) and len(slug) <= 63
    assert slug != name
    assert slug not in {"www", "hub", "api", "admin", "apps", "mail"}


def test_reserved_names_are_configurable():
    assert app_slug("alice", reserved=["alice"]) != "alice"
    assert app_slug("www", reserved=[]) == "www"


def test_injective_over_many_confusable_names():
    names = set()
    for base in ["alice", "Alice", "ALICE", "al.ice", "al_ice", "al-ice", "hub", "HUB"]:
        for suffix in ["", "1", "-1", ".1", "_1"]:
            names.add(base + suffix)
    names |= {app_slug(n) for n in list(names)}  # a user named like another's slug
    slugs = [app_slug(n) for n in names]
    assert len(set(slugs)) == len(names)


def test_user_names_are_checked():
    assert validate_username("alice") == "alice"
    for bad in ["", "../x", "a b", "A", "a/b", "x" * 65]:
        with pytest.raises(BadRequest):
            validate_username(bad)
