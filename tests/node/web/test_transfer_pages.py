"""Transfer pages through the test client, between two tenants of one node: the member applies,
the sending chain approves, the letter prints, the receiving committee assigns a branch and
approves, the member arrives; the receiving committee prints the letter it holds and, after
reception, with the receipt filled in; a rejection needs a reason, and the sender corrects and
resends."""

from __future__ import annotations

import io
from typing import Any

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from node.audit.models import AuditEntry
from node.db import db
from node.grants.models import Role
from node.members.models import Member, Status
from node.tenants.scoping import tenant_context
from node.transfers.models import Side, State, Transfer

from .conftest import ADMIN_PASSWORD, PASSWORD, csrf_of, sign_in, sign_in_as


@pytest.fixture()
def receiving(console: Any, world: Any) -> Any:
    """A branch of the other tenant under its root committee (where the letter is addressed)."""
    root = world.root(console.site.other)
    return world.org(console.site.other, root, "branch", name="铜官区某某社区党支部")


def _side(tenant: Any, side: Side) -> Transfer:
    db.session.expire_all()
    with tenant_context(tenant.id):
        return db.session.scalars(sa.select(Transfer).where(Transfer.side == side)).one()


def _post(client: Any, page_url: str, action_url: str, **data: str) -> Any:
    page = client.get(page_url)
    assert page.status_code == 200, page.text
    return client.post(action_url, data={"csrf_token": csrf_of(page), **data})


def _apply_as_member(client: Any, console: Any) -> int:
    sign_in_as(client, console, "member")
    slug = console.slug
    page = client.get(f"/t/{slug}/me/transfers/new")
    assert page.status_code == 200
    refused = client.post(f"/t/{slug}/me/transfers/new", data={
        "csrf_token": csrf_of(page), "to_tenant": console.site.other.slug,
        "to_org_code": "999", "reason": "毕业分配"})
    assert refused.status_code == 400 and 'role="alert"' in refused.text
    done = client.post(f"/t/{slug}/me/transfers/new", data={
        "csrf_token": csrf_of(page), "to_tenant": console.site.other.slug,
        "to_org_code": console.site.other.code_prefix, "reason": "毕业分配，到铜陵工作"})
    assert done.status_code == 303, done.text
    out = _side(console.site.tenant, Side.out)
    mine = client.get(f"/t/{slug}/me/transfers")
    assert mine.status_code == 200 and "毕业分配" not in mine.text  # (the list: no reasons)
    assert console.site.plain_member.name in mine.text
    assert client.get(done.headers["Location"]).status_code == 200
    return out.id


def _approve_sending_chain(console: Any, out_id: int) -> Any:
    slug = console.slug
    secretary = console_client(console, "secretary")
    url = f"/t/{slug}/console/transfers/{out_id}"
    inbox = secretary.get(f"/t/{slug}/console/transfers?box=todo")
    assert console.site.plain_member.name in inbox.text
    assert _post(secretary, url, f"{url}/approve").status_code == 303  # the branch
    admin = console_client(console, "admin")
    assert _post(admin, url, f"{url}/approve", note="同意转出").status_code == 303  # committee
    return admin


def console_client(console: Any, who: str) -> Any:
    from flask import current_app

    client = current_app.test_client()
    sign_in_as(client, console, who)
    return client


def test_a_transfer_between_two_tenants_through_the_pages(client, console, receiving, app):
    with app.app_context():
        out_id = _apply_as_member(client, console)
        admin = _approve_sending_chain(console, out_id)
    out = _side(console.site.tenant, Side.out)
    assert out.state == State.issued and out.serial
    # the issuing committee prints the letter; the branch secretary may not
    pdf = admin.get(f"/t/{console.slug}/console/transfers/{out_id}/letter.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages)
    assert out.serial in text.replace(" ", "") and "特此回执" in text.replace(" ", "")
    with app.app_context():
        secretary = console_client(console, "secretary")
    assert secretary.get(
        f"/t/{console.slug}/console/transfers/{out_id}/letter.pdf").status_code == 403
    mine = client.get(f"/t/{console.slug}/me/transfers/{out_id}/letter.pdf")
    assert mine.status_code == 200 and mine.mimetype == "application/pdf"

    # the receiving tenant's administrator: incoming, assign the branch and approve, twice
    other = app.test_client()
    assert sign_in(other, console.site.other.slug, "admin", ADMIN_PASSWORD).status_code == 303
    slug = console.site.other.slug
    incoming = other.get(f"/t/{slug}/console/transfers?box=incoming")
    assert console.site.plain_member.name in incoming.text and out.serial in incoming.text
    in_id = _side(console.site.other, Side.in_).id
    url = f"/t/{slug}/console/transfers/{in_id}"
    assert _post(other, url, f"{url}/approve", branch_id=str(receiving.id)).status_code == 303
    assert _post(other, url, f"{url}/approve").status_code == 303

    incoming = _side(console.site.other, Side.in_)
    assert incoming.state == State.received
    assert _side(console.site.tenant, Side.out).state == State.closed
    with tenant_context(console.site.tenant.id):
        origin = db.session.get(Member, console.site.plain_member.id)
        assert origin.status == Status.transferred_out
    with tenant_context(console.site.other.id):
        arrived = db.session.scalars(sa.select(Member).where(
            Member.name == console.site.plain_member.name)).one()
        assert arrived.status == Status.active and arrived.org_id == receiving.id
    page = client.get(f"/t/{console.slug}/me/transfers/{out_id}")
    assert page.status_code == 200 and "data-state=\"closed\"" in page.text


def test_a_rejection_needs_a_reason_and_the_sender_resends(client, console, receiving, app):
    with app.app_context():
        out_id = _apply_as_member(client, console)
        admin = _approve_sending_chain(console, out_id)
    other = app.test_client()
    assert sign_in(other, console.site.other.slug, "admin", ADMIN_PASSWORD).status_code == 303
    slug = console.site.other.slug
    in_id = _side(console.site.other, Side.in_).id
    url = f"/t/{slug}/console/transfers/{in_id}"
    refused = _post(other, url, f"{url}/reject", reason_code="refused", reason=" ")
    assert refused.status_code == 400 and 'role="alert"' in refused.text
    assert _side(console.site.other, Side.in_).state == State.delivered  # nothing changed
    assert _post(other, url, f"{url}/reject", reason_code="unknown_org",
                 reason="请寄往街道党工委").status_code == 303
    # a letter sent back is no letter to print: a readable 409 page, not a PDF
    dead = other.get(f"{url}/letter.pdf")
    assert dead.status_code == 409 and dead.mimetype == "text/html"
    assert f'href="{url}/letter.pdf"' not in other.get(url).text
    out = _side(console.site.tenant, Side.out)
    assert out.state == State.rejected and out.reason_text == "请寄往街道党工委"

    home = f"/t/{console.slug}/console/transfers/{out_id}"
    page = admin.get(home)
    assert "请寄往街道党工委" in page.text
    resent = _post(admin, home, f"{home}/resend", to_tenant=slug,
                   to_org_code=console.site.other.code_prefix, reason="毕业分配")
    assert resent.status_code == 303
    out = _side(console.site.tenant, Side.out)
    assert (out.state, out.attempt) == (State.issued, 2)
    # the overdue inbox is empty; the letters-out inbox lists it
    assert out.serial in admin.get(f"/t/{console.slug}/console/transfers?box=out").text


def test_the_tenant_administrator_shortens_the_validity(client, console, receiving, app):
    from node.tenants.models import Tenant

    with app.app_context():
        admin = console_client(console, "admin")
        secretary = console_client(console, "secretary")
    url = f"/t/{console.slug}/console/transfers/rules"
    assert secretary.get(url).status_code == 403
    refused = _post(admin, url, url, validity_days="200")
    assert refused.status_code == 400 and 'role="alert"' in refused.text
    assert _post(admin, url, url, validity_days="10").status_code == 303
    db.session.expire_all()
    tenant = db.session.get(Tenant, console.site.tenant.id)
    assert tenant.rules["transfer_validity_days"] == 10
    assert tenant.rules["transfer_auto_approve"] == 0
    with app.app_context():
        out_id = _apply_as_member(client, console)
        _approve_sending_chain(console, out_id)
    out = _side(console.site.tenant, Side.out)
    assert (out.valid_until - out.issued_at).days == 10


def _pdf_text(response: Any) -> str:
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    reader = PdfReader(io.BytesIO(response.data))
    return "".join(p.extract_text() for p in reader.pages).replace(" ", "").replace("\n", "")


def _printed(tenant: Any, transfer_id: int) -> list[AuditEntry]:
    db.session.expire_all()
    with tenant_context(tenant.id):
        return list(db.session.scalars(sa.select(AuditEntry).where(
            AuditEntry.action == "transfer.letter_printed", AuditEntry.entity_id == transfer_id)))


def test_the_receiving_committee_prints_the_letter_too(client, console, receiving, app, world):
    with app.app_context():
        out_id = _apply_as_member(client, console)
        _approve_sending_chain(console, out_id)
    out = _side(console.site.tenant, Side.out)
    serial, from_name, to_name = (out.serial, out.from_org_name.replace(" ", ""),
                                  out.to_org_name.replace(" ", ""))
    slug = console.site.other.slug
    in_id = _side(console.site.other, Side.in_).id
    url = f"/t/{slug}/console/transfers/{in_id}"
    link = f'href="{url}/letter.pdf"'
    other = app.test_client()  # the addressed organization's (the other tenant's root) admin
    assert sign_in(other, slug, "admin", ADMIN_PASSWORD).status_code == 303
    branch = app.test_client()  # the receiving branch's secretary
    world.account(console.site.other, grants=[(Role.org_admin, receiving)],
                  username="receiving-secretary", password=PASSWORD)
    assert sign_in(branch, slug, "receiving-secretary", PASSWORD).status_code == 303
    assert branch.get(f"{url}/letter.pdf").status_code == 404  # not in their reach yet

    # while the dossier is held: the letter as it came, from the decrypted dossier
    assert link in other.get(url).text
    text = _pdf_text(other.get(f"{url}/letter.pdf"))
    assert text.count(f"第{serial}号") == 3
    assert f"{console.site.plain_member.name}同志" in text
    assert f"由{from_name}去{to_name}" in text
    assert "接收党委（盖章）" in text and "该同志已编入" not in text
    [entry] = _printed(console.site.other, in_id)
    assert entry.after == {"serial": serial, "attempt": 1, "side": "in"}
    assert entry.actor_account_id is not None

    # the branch named: its secretary reads the side but does not print the national ID
    assert _post(other, url, f"{url}/approve", branch_id=str(receiving.id)).status_code == 303
    page = branch.get(url)
    assert page.status_code == 200 and link not in page.text
    assert branch.get(f"{url}/letter.pdf").status_code == 403
    # the sending tenant has no such transfer
    with app.app_context():
        origin_admin = console_client(console, "admin")
    assert origin_admin.get(
        f"/t/{console.slug}/console/transfers/{in_id}/letter.pdf").status_code == 404

    # after reception: from the member row on our rolls, the receipt filled in
    assert _post(branch, url, f"{url}/approve").status_code == 303
    incoming = _side(console.site.other, Side.in_)
    assert incoming.state == State.received and incoming.dossier_cipher is None
    db.session.expunge(incoming)
    assert link in other.get(url).text
    text = _pdf_text(other.get(f"{url}/letter.pdf"))
    assert text.count(f"第{serial}号") == 3
    assert f"{console.site.plain_member.name}同志" in text
    assert f"该同志已编入{receiving.name}。" in text
    assert "接收党委（盖章）" not in text and f"{to_name}（盖章）" in text
    assert len(_printed(console.site.other, in_id)) == 2
