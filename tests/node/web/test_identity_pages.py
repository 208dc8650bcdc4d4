"""The duplicate identity warning for secretaries: on the member page, in the list of flagged
members of their scope (a sibling branch's flagged member is not theirs), and the member list's
"flagged" filter; resolved flags disappear."""

from __future__ import annotations

import datetime as dt
from typing import Any

from federation.keys import format_time
from node.db import db
from node.identity import services
from shared.db.session import transaction

from .conftest import sign_in_as

T0 = dt.datetime(2025, 3, 1, 8, tzinfo=dt.UTC)
PLACE = {"node": "node-b", "tenant": "tongguan", "region": "340705"}


def _flag(console: Any, member: Any, as_of: dt.datetime = T0) -> None:
    with transaction(db):
        services.apply_duplicate({"hash": member.national_id_hash, "as_of": format_time(as_of),
                                  "flags": [{"tenant": console.slug, "elsewhere": [PLACE]}]})


def _resolve(console: Any, member: Any) -> None:
    with transaction(db):
        services.apply_resolved({"hash": member.national_id_hash,
                                 "as_of": format_time(T0 + dt.timedelta(hours=1)),
                                 "tenants": [console.slug]})


def test_the_member_page_warns_of_a_registration_elsewhere(client, console):
    member = console.site.plain_member
    sign_in_as(client, console, "secretary")
    url = f"/t/{console.slug}/console/members/{member.id}"
    assert 'id="identity-flag-title"' not in client.get(url).text
    _flag(console, member)
    page = client.get(url)
    assert page.status_code == 200
    assert 'id="identity-flag-title"' in page.text and "tongguan" in page.text
    assert "340705" in page.text and "也在其他组织登记" in page.text
    english = client.get(url + "?lang=en").text
    assert "Also registered elsewhere" in english
    _resolve(console, member)
    assert 'id="identity-flag-title"' not in client.get(url).text


def test_the_flagged_list_shows_only_members_in_reach(client, console):
    own, stranger = console.site.plain_member, console.stranger
    _flag(console, own)
    _flag(console, stranger)
    sign_in_as(client, console, "secretary")
    page = client.get(f"/t/{console.slug}/console/identity/flagged")
    assert page.status_code == 200
    assert own.name in page.text and "tongguan" in page.text
    assert stranger.name not in page.text  # the sibling branch is not the secretary's


def test_the_administrator_sees_every_flagged_member(client, console):
    _flag(console, console.site.plain_member)
    _flag(console, console.stranger)
    sign_in_as(client, console, "admin")
    page = client.get(f"/t/{console.slug}/console/identity/flagged")
    assert console.site.plain_member.name in page.text and console.stranger.name in page.text


def test_the_member_list_filters_flagged_members(client, console):
    flagged, other = console.site.plain_member, console.site.secretary
    _flag(console, flagged)
    sign_in_as(client, console, "secretary")
    everyone = client.get(f"/t/{console.slug}/console/members").text
    assert flagged.name in everyone and other.name in everyone
    page = client.get(f"/t/{console.slug}/console/members?flagged=1")
    assert page.status_code == 200
    assert flagged.name in page.text and other.name not in page.text
    bad = client.get(f"/t/{console.slug}/console/members?flagged=maybe")
    assert bad.status_code == 200 and other.name not in bad.text  # a readable error, no list


def test_the_member_list_links_to_the_flagged_members(client, console):
    sign_in_as(client, console, "secretary")
    page = client.get(f"/t/{console.slug}/console/members")
    assert f"/t/{console.slug}/console/identity/flagged" in page.text
