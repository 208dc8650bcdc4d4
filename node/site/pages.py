"""The tenant's public site: anonymous, cacheable pages (headers in `node.web.responses`)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from flask_babel import gettext as _

from node.site import services
from node.tenants.models import Tenant
from node.web.responses import page_error
from node.web.tenancy import tenant_route
from shared.errors import NotFound

blp = Blueprint("site", __name__)


def node_index() -> Any:
    """The node's own host name: the tenants it hosts, each with its site."""
    return render_template("site/node_index.html", tenants=services.public_tenants())


@tenant_route(blp, "/", node_page=node_index, read_only=True)
def home(tenant: Tenant) -> Any:
    return render_template("site/home.html", tenant=tenant, tree=services.public_tree(tenant))


@tenant_route(blp, "/orgs/<int:org_id>", read_only=True)
def org(tenant: Tenant, org_id: int) -> Any:
    try:
        page = services.public_org_page(tenant, org_id)
    except NotFound:
        return page_error(404, _("There is no such organization here."))
    return render_template("site/org.html", tenant=tenant, page=page)
