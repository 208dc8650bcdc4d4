"""HTTP for members, their history and the activity card."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask.views import MethodView

from node.auth.principal import current_principal
from node.extensions import transactional
from node.members import services
from node.members.models import Member
from node.members.schemas import (
    ActivityCardSchema,
    MemberCreateSchema,
    MemberMoveSchema,
    MemberPageSchema,
    MemberQueryArgsSchema,
    MemberSchema,
    MemberUpdateSchema,
    NationalIdSchema,
    SelfDeclaredSchema,
    StageChangeCreateSchema,
    StageChangeResultSchema,
    StatusChangeCreateSchema,
)
from node.tenants.services import current_tenant
from shared.web.api import Blueprint
from shared.web.pagination import decode_cursor, page

blp = Blueprint("members", __name__, url_prefix="/api/members",
                description="Members: pipeline stage, status, history and the activity card.")
me_blp = Blueprint("me", __name__, url_prefix="/api/me",
                   description="The signed-in member's own record.")


def card_payload(member: Member) -> dict[str, Any]:
    card = services.activity_card(member)
    admitted, today = member.admitted_on, dt.date.today()
    age = None
    if admitted:
        age = today.year - admitted.year - ((today.month, today.day)
                                            < (admitted.month, admitted.day))
    return {
        "member": member,
        "org_name": card.org.name,
        "party_age_years": age,
        "stages": card.stages,
        "statuses": card.statuses,
        "orgs": [{"from_org_id": c.from_org_id, "from_org_name": from_name,
                  "to_org_id": c.to_org_id, "to_org_name": to_name,
                  "effective_on": c.effective_on, "reason": c.reason}
                 for c, from_name, to_name in card.orgs],
        "activities": card.activities,
    }


@blp.route("")
class Members(MethodView):
    @blp.arguments(MemberQueryArgsSchema, location="query")
    @blp.response(200, MemberPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Search members within your reach (by org subtree, stage, status, name, number or ID)"""
        after = decode_cursor(args.pop("cursor"), (str, int))
        limit = args.pop("limit")
        flt = services.MemberFilter(**args)
        items = services.list_members(current_principal(), flt,
                                      after=(after[0], after[1]) if after else None, limit=limit)
        return page(items, limit, lambda last: [last["org_code"], last["id"]])

    @blp.arguments(MemberCreateSchema)
    @blp.response(201, MemberSchema)
    @transactional
    def post(self, data: dict[str, Any]) -> Member:
        """Register a member (organization administrators of the member's org)"""
        return services.create_member(current_principal(), current_tenant(), data)


@blp.route("/<int:member_id>")
class MemberById(MethodView):
    @blp.response(200, MemberSchema)
    def get(self, member_id: int) -> Member:
        """A member (the national ID is masked)"""
        return services.get_member(current_principal(), member_id)

    @blp.arguments(MemberUpdateSchema)
    @blp.response(200, MemberSchema)
    @transactional
    def patch(self, data: dict[str, Any], member_id: int) -> Member:
        """Edit a member's record (organization administrators)"""
        principal = current_principal()
        return services.update_member(principal, services.get_member(principal, member_id), data)


@blp.route("/<int:member_id>/card")
class MemberCard(MethodView):
    @blp.response(200, ActivityCardSchema)
    def get(self, member_id: int) -> dict[str, Any]:
        """The member's activity card: record, stages, status and org history, activities"""
        return card_payload(services.get_member(current_principal(), member_id))


@blp.route("/<int:member_id>/stage")
class MemberStage(MethodView):
    @blp.arguments(StageChangeCreateSchema)
    @blp.response(200, StageChangeResultSchema)
    @transactional
    def post(self, data: dict[str, Any], member_id: int) -> dict[str, Any]:
        """Advance the member one step in the pipeline, dated; time-rule warnings are returned"""
        principal = current_principal()
        member = services.get_member(principal, member_id)
        warnings = services.change_stage(principal, member, **data)
        return {"member": member, "warnings": [w.message for w in warnings]}


@blp.route("/<int:member_id>/status")
class MemberStatus(MethodView):
    @blp.arguments(StatusChangeCreateSchema)
    @blp.response(200, MemberSchema)
    @transactional
    def post(self, data: dict[str, Any], member_id: int) -> Member:
        """Change the member's status, dated, with a reason"""
        principal = current_principal()
        return services.change_status(principal, services.get_member(principal, member_id),
                                      **data)


@blp.route("/<int:member_id>/move")
class MemberMove(MethodView):
    @blp.arguments(MemberMoveSchema)
    @blp.response(200, MemberSchema)
    @transactional
    def post(self, data: dict[str, Any], member_id: int) -> Member:
        """Move the member to another organization of the tenant"""
        principal = current_principal()
        return services.move_member(principal, services.get_member(principal, member_id), **data)


@blp.route("/<int:member_id>/national-id")
class MemberNationalId(MethodView):
    @blp.response(200, NationalIdSchema)
    @transactional
    def post(self, member_id: int) -> dict[str, str]:
        """Reveal the full national ID (organization administrators; audited)"""
        principal = current_principal()
        member = services.get_member(principal, member_id)
        return {"national_id": services.reveal_national_id(principal, member)}


@me_blp.route("/member")
class MyMember(MethodView):
    @me_blp.response(200, MemberSchema)
    def get(self) -> Member:
        """Your own member record"""
        return services.own_member(current_principal())

    @me_blp.arguments(SelfDeclaredSchema)
    @me_blp.response(200, MemberSchema)
    @transactional
    def patch(self, data: dict[str, Any]) -> Member:
        """Update the fields you maintain yourself (phone, email, address, work unit, occupation)"""
        return services.update_self_declared(services.own_member(current_principal()), data)


@me_blp.route("/card")
class MyCard(MethodView):
    @me_blp.response(200, ActivityCardSchema)
    def get(self) -> dict[str, Any]:
        """Your activity card"""
        return card_payload(services.own_member(current_principal()))
