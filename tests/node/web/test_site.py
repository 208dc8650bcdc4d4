"""The tenant's public site: chosen by host name or path, public facts only, cacheable."""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from node import demo
from node.grants.models import Role
from node.orgs.models import Org
from node.tenants.scoping import tenant_context
from node.tenants.services import normalize_host, set_tenant_hosts, tenant_hosts
from shared.errors import Conflict, InvalidInput

from .conftest import sign_in


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.links.append(href)


def links(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.links


# --- every page of the demo --------------------------------------------------------------------

def _crawl(client: Any, start: str) -> dict[str, int]:
    """Follow every same-site page link from `start`; return {path: status}."""
    seen: dict[str, int] = {}
    queue = [start]
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        response = client.get(path)
        seen[path] = response.status_code
        assert response.status_code < 500, f"{path}: {response.status_code}"
        if response.status_code == 200 and "text/html" in response.content_type:
            for href in links(response.text):
                parts = urlsplit(href)
                if not parts.netloc and href.startswith("/") and not parts.query \
                        and not href.startswith("/api/"):
                    queue.append(parts.path)
    return seen


def test_every_page_of_the_demo_renders(client, session):
    demo.seed(tenants=(demo.DADUKOU,))  # the other demo tenant has the same shape
    for slug in ("dadukou",):
        anonymous = _crawl(client, f"/t/{slug}/")
        org_pages = [p for p in anonymous if p.startswith(f"/t/{slug}/orgs/")]
        assert len(org_pages) >= 25  # every organization is reachable from the home page
        assert all(status == 200 for path, status in anonymous.items()
                   if path != f"/t/{slug}/account/password"), anonymous
        assert anonymous.get(f"/t/{slug}/account/password") in (None, 303)
        assert sign_in(client, slug, "secretary", demo.DEMO_PASSWORD).status_code == 303
        signed_in = _crawl(client, f"/t/{slug}/login")
        assert signed_in[f"/t/{slug}/account/password"] == 200
        assert all(status == 200 for status in signed_in.values()), signed_in
        client.delete_cookie("session")
    # the demo tenants answer at their own host names too
    page = client.get("/", base_url=f"http://{demo.demo_host('dadukou')}:5000")
    assert page.status_code == 200 and demo.DADUKOU.name in page.text


# --- which tenant ------------------------------------------------------------------------------

def test_each_host_name_of_a_tenant_serves_its_site(client, site):
    for host in site.hosts:
        page = client.get("/", base_url=f"http://{host}")
        assert page.status_code == 200
        assert f">{site.tenant.name}</h1>" in page.text
        assert f'href="/orgs/{site.branch.id}"' in page.text  # links stay on the host


def test_host_names_ignore_case_port_and_final_dot(client, site):
    page = client.get("/", base_url="http://DaDuKou.Example.Org.:8443")
    assert page.status_code == 200 and site.tenant.name in page.text


def test_the_path_fallback_serves_every_tenant_on_any_host(client, site):
    page = client.get(f"/t/{site.tenant.slug}/")
    assert page.status_code == 200 and site.tenant.name in page.text
    assert f'href="/t/{site.tenant.slug}/orgs/{site.branch.id}"' in page.text
    other = client.get(f"/t/{site.other.slug}/", base_url=f"http://{site.hosts[0]}")
    assert other.status_code == 200 and site.other.name in other.text


@pytest.mark.parametrize("path", ["/", "/orgs/1", "/login", "/password/forgot"])
def test_an_unknown_host_is_a_readable_404(client, site, path):
    page = client.get(path, base_url="http://nobody.example.net")
    assert page.status_code == 404
    assert "text/html" in page.content_type
    assert "此地址下没有对应的组织" in page.text
    assert '<html lang="zh-CN">' in page.text


@pytest.mark.parametrize("slug", ["no-such-tenant", "x", "%E4%B8%AD", "a" * 300])
def test_an_unknown_slug_is_a_readable_404(client, site, slug):
    page = client.get(f"/t/{slug}/")
    assert page.status_code == 404
    assert "此地址下没有对应的组织" in page.text


def test_the_nodes_own_host_lists_its_tenants(client, site, app):
    node_host = urlsplit(app.extensions["node"].base_url).netloc
    page = client.get("/", base_url=f"http://{node_host}")
    assert page.status_code == 200
    for tenant in (site.tenant, site.other):
        assert f'href="/t/{tenant.slug}/"' in page.text and tenant.name in page.text


def test_an_org_of_another_tenant_is_not_found(client, site, world):
    foreign = world.org(site.other, world.root(site.other), "committee", name="别的党委")
    page = client.get(f"/orgs/{foreign.id}", base_url=f"http://{site.hosts[0]}")
    assert page.status_code == 404
    assert "别的党委" not in page.text
    assert client.get(f"/t/{site.other.slug}/orgs/{foreign.id}").status_code == 200


def test_an_unknown_page_is_a_readable_404(client, connection):
    page = client.get("/no/such/page")
    assert page.status_code == 404
    assert "text/html" in page.content_type and "此地址下没有页面" in page.text


def test_host_names_are_normalized_and_belong_to_one_tenant(site, session):
    assert normalize_host(" WWW.Example.ORG. ") == "www.example.org"
    assert normalize_host("党建.中国") == "xn--n5qz54a.xn--fiqs8s"  # as browsers send it
    for bad in ("", "a b.org", "x.org:80", "http://x.org", "-x.org", "1.2.3.4", "a..b"):
        with pytest.raises(InvalidInput):
            normalize_host(bad)
    with pytest.raises(Conflict):
        set_tenant_hosts(site.other, [site.hosts[0]])
    session.rollback()
    assert set_tenant_hosts(site.tenant, ["new.example.org", "dadukou.example.org"]) == [
        "dadukou.example.org", "new.example.org"]
    session.commit()
    assert tenant_hosts(site.tenant) == ["dadukou.example.org", "new.example.org"]


def test_the_cli_sets_and_lists_host_names(tmp_path):
    script = """
import sys
from click.testing import CliRunner
from shared.cli import main
for argv in (["db", "upgrade"],
             ["tenant", "create", "--slug", "hosted", "--name", "H", "--code-prefix", "500104",
              "--admin-username", "admin", "--admin-password", "admin-password-1",
              "--host", "a.example.org", "--host", "B.example.org"],
             ["tenant", "list"],
             ["tenant", "set-host", "hosted", "c.example.org"],
             ["tenant", "list"],
             ["tenant", "set-host", "hosted", "not a host"]):
    result = CliRunner().invoke(main, ["node", *argv])
    print(f"== {result.exit_code} {result.output}")
"""
    env = {"NODE_DATABASE_URL": f"sqlite:///{tmp_path / 'n.db'}",
           "NODE_SECRET_KEY": "s" * 20, "NODE_IDENTITY_HASH_KEY": "h" * 20,
           "NODE_PII_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
           "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=120, cwd=Path(__file__).resolve().parents[3],
                         check=True).stdout
    runs = out.split("== ")[1:]
    assert [r.split()[0] for r in runs] == ["0", "0", "0", "0", "0", "1"]
    assert "hosted" in runs[2] and "a.example.org,b.example.org" in runs[2]
    assert runs[3].strip().endswith("hosted: c.example.org")
    assert "c.example.org" in runs[4] and "a.example.org" not in runs[4]
    assert "not a host" in runs[5]


# --- what a page shows ---------------------------------------------------------------------------

def test_home_shows_the_tree_and_a_news_section(client, site):
    page = client.get("/", base_url=f"http://{site.hosts[0]}")
    text = page.text
    assert "大渡口区委的公开介绍。" in text
    for org in (site.committee, site.branch):
        assert f'<a href="/orgs/{org.id}">{org.name}</a>' in text
    assert "组织架构" in text and "新闻动态" in text and "暂无新闻" in text
    assert '<span class="kind">党支部</span>' in text
    assert "下设1个组织" in text  # the branch's party group, one level below the tree shown


def test_org_page_shows_public_facts_and_officers(client, site):
    page = client.get(f"/orgs/{site.branch.id}", base_url=f"http://{site.hosts[0]}")
    assert page.status_code == 200
    text = page.text
    assert f"<h1>{site.branch.name}</h1>" in text
    assert "每月固定日开展主题党日。" in text
    assert "<dt>书记</dt><dd>江玲</dd>" in text
    assert f'href="/orgs/{site.committee.id}"' in text  # breadcrumb
    assert f'<a href="/orgs/{site.group.id}">{site.group.name}</a>' in text


def test_public_pages_never_show_member_data(client, site, session):
    from node.members.models import Member

    with tenant_context(site.tenant.id):
        members = session.scalars(sa.select(Member)).all()
        internal = session.scalar(sa.select(Org.description).where(Org.id == site.root.id))
    secrets_ = {internal}
    for m in members:
        secrets_ |= {m.member_number, m.national_id_masked, m.phone, m.address, m.work_unit,
                     m.birth_date.isoformat(), m.national_id_masked[-4:] + "<"}
    pages = [client.get(path, base_url=f"http://{site.hosts[0]}") for path in
             ["/", *(f"/orgs/{o.id}" for o in (site.root, site.committee, site.branch,
                                                site.group))]]
    assert all(p.status_code == 200 for p in pages)
    text = "".join(p.text for p in pages)
    for value in secrets_:
        assert value and value not in text, value
    assert site.plain_member.name not in text  # not an officer: not named at all
    assert site.secretary.name in text  # an officer: only the name and title


def test_public_description_is_edited_through_the_api(client, site, world):
    admin = world.account(site.tenant, grants=[(Role.tenant_admin, site.root)])
    response = client.patch(f"/api/orgs/{site.committee.id}", headers=world.token(admin),
                            json={"public_description": "街道党工委的公开介绍。"})
    assert response.status_code == 200
    assert response.json["public_description"] == "街道党工委的公开介绍。"
    page = client.get(f"/t/{site.tenant.slug}/orgs/{site.committee.id}")
    assert "街道党工委的公开介绍。" in page.text


def test_dissolved_orgs_are_not_public(client, site, world, session):
    with tenant_context(site.tenant.id):
        session.execute(sa.update(Org).where(Org.id == site.group.id)
                        .values(dissolved_on=site.branch.created_at.date()))
        session.commit()
    base = f"http://{site.hosts[0]}"
    assert client.get(f"/orgs/{site.group.id}", base_url=base).status_code == 404
    assert site.group.name not in client.get(f"/orgs/{site.branch.id}", base_url=base).text


# --- headers -----------------------------------------------------------------------------------

def test_anonymous_public_pages_are_cacheable_and_signed_in_ones_are_not(client, site):
    base = f"http://{site.hosts[0]}"
    page = client.get("/", base_url=base)
    assert page.headers["Cache-Control"] == "public, max-age=300"
    assert "Cookie" in page.headers["Vary"]
    assert "Set-Cookie" not in page.headers  # an anonymous visit starts no session
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert "script-src" not in page.headers["Content-Security-Policy"]  # default-src 'self'
    assert page.headers["X-Frame-Options"] == "DENY"

    assert sign_in(client, site.tenant.slug, base_url=base).status_code == 303
    page = client.get("/", base_url=base)
    assert page.headers["Cache-Control"] == "no-store"
    assert site.account.display_name in page.text  # the header names the account


def test_scripts_and_styles_are_served_by_the_node(client, site):
    page = client.get("/", base_url=f"http://{site.hosts[0]}")
    sources = re.findall(r'(?:src|href)="([^"]+\.(?:js|css)[^"]*)"', page.text)
    assert sources and all(s.startswith("/") for s in sources)  # never a CDN
    for source in sources:
        assert client.get(source).status_code == 200
    for path in ("/api/vendor/htmx/htmx.min.js", "/api/vendor/echarts/echarts.min.js",
                 "/api/vendor/axe-core/axe.min.js"):
        asset = client.get(path)
        assert asset.status_code == 200 and asset.data
    assert client.get("/api/vendor/htmx/../../package.json").status_code == 404
