"""Rule warnings are shown in the reader's language, with their figures."""

from __future__ import annotations

from tests.node.web.conftest import sign_in_as


def test_org_rule_warnings_are_translated(client, console):
    sign_in_as(client, console, "secretary")
    path = f"/t/{console.slug}/console/orgs/{console.site.branch.id}"
    page = client.get(path)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "党支部应至少有 3 名正式党员，本支部现有 2 名。" in text
    assert "A branch needs" not in text
    english = client.get(path + "?lang=en").get_data(as_text=True)
    assert "A branch needs at least 3 full members; this one has 2." in english
