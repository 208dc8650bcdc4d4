"""HTTP for the organization tree: translate requests to services, nothing more."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from node.auth.principal import current_principal
from node.extensions import transactional
from node.orgs import services
from node.orgs.schemas import (
    OfficerCreateSchema,
    OfficerEndSchema,
    OfficerSchema,
    OrgCreateSchema,
    OrgDetailSchema,
    OrgDissolveSchema,
    OrgMoveSchema,
    OrgPageSchema,
    OrgQueryArgsSchema,
    OrgSchema,
    OrgUpdateSchema,
)
from node.tenants.services import current_tenant
from shared.web.api import Blueprint
from shared.web.pagination import decode_cursor, page

blp = Blueprint("orgs", __name__, url_prefix="/api/orgs",
                description="The organization tree with unified codes.")


def _detail(org: Any) -> dict[str, Any]:
    values = {name: getattr(org, name) for name in OrgSchema._declared_fields}
    return {**values, "warnings": services.org_warnings(org, current_tenant())}


@blp.route("")
class Orgs(MethodView):
    @blp.arguments(OrgQueryArgsSchema, location="query")
    @blp.response(200, OrgPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """List organizations in code order (a depth-first walk of the tree)"""
        current_principal()
        after = decode_cursor(args.pop("cursor"), (str,))
        limit = args.pop("limit")
        items = services.list_orgs(parent_id=args.get("parent_id"), kind=args.get("kind"),
                                   q=args.get("q"), within_code=args.get("within"),
                                   include_dissolved=args["include_dissolved"],
                                   after_code=str(after[0]) if after else None, limit=limit)
        return page(items, limit, lambda last: [last.code])

    @blp.arguments(OrgCreateSchema)
    @blp.response(201, OrgDetailSchema)
    @transactional
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Create an organization under a parent (tenant administrators)"""
        return _detail(services.create_org(current_principal(), data))


@blp.route("/<int:org_id>")
class OrgById(MethodView):
    @blp.response(200, OrgDetailSchema)
    def get(self, org_id: int) -> dict[str, Any]:
        """An organization with the rule warnings that apply to it"""
        current_principal()
        return _detail(services.get_org(org_id))

    @blp.arguments(OrgUpdateSchema)
    @blp.response(200, OrgDetailSchema)
    @transactional
    def patch(self, data: dict[str, Any], org_id: int) -> dict[str, Any]:
        """Edit an organization (tenant administrators)"""
        org = services.update_org(current_principal(), services.get_org(org_id), data)
        return _detail(org)


@blp.route("/<int:org_id>/move")
class OrgMove(MethodView):
    @blp.arguments(OrgMoveSchema)
    @blp.response(200, OrgDetailSchema)
    @transactional
    def post(self, data: dict[str, Any], org_id: int) -> dict[str, Any]:
        """Move a subtree under a new parent; its codes are reallocated and the move recorded"""
        org = services.move_org(current_principal(), services.get_org(org_id), **data)
        return _detail(org)


@blp.route("/<int:org_id>/dissolve")
class OrgDissolve(MethodView):
    @blp.arguments(OrgDissolveSchema)
    @blp.response(200, OrgDetailSchema)
    @transactional
    def post(self, data: dict[str, Any], org_id: int) -> dict[str, Any]:
        """Dissolve an empty organization; its code is never reused"""
        org = services.dissolve_org(current_principal(), services.get_org(org_id), **data)
        return _detail(org)


@blp.route("/<int:org_id>/officers")
class Officers(MethodView):
    @blp.response(200, OfficerSchema(many=True))
    def get(self, org_id: int) -> Any:
        """Officers of an organization, newest term first"""
        current_principal()
        return services.list_officers(services.get_org(org_id))

    @blp.arguments(OfficerCreateSchema)
    @blp.response(201, OfficerSchema)
    @transactional
    def post(self, data: dict[str, Any], org_id: int) -> Any:
        """Record an officer for a term (organization administrators)"""
        return services.add_officer(current_principal(), services.get_org(org_id), data)


@blp.route("/<int:org_id>/officers/<int:officer_id>/end")
class OfficerEnd(MethodView):
    @blp.arguments(OfficerEndSchema)
    @blp.response(200, OfficerSchema)
    @transactional
    def post(self, data: dict[str, Any], org_id: int, officer_id: int) -> Any:
        """End an officer's term"""
        return services.end_officer_term(current_principal(), services.get_org(org_id),
                                         officer_id, data["term_end"])
