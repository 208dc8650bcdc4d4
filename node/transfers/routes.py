"""HTTP for transfers of the organization relationship: translate requests to services."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from node.auth.principal import current_principal
from node.extensions import transactional
from node.transfers import services
from node.transfers.models import Transfer
from node.transfers.schemas import (
    DestinationSchema,
    TransferApproveSchema,
    TransferAssignSchema,
    TransferCancelSchema,
    TransferCreateSchema,
    TransferPageSchema,
    TransferQueryArgsSchema,
    TransferRejectSchema,
    TransferResendSchema,
    TransferSchema,
    TransferVoidSchema,
)
from shared.web.api import Blueprint
from shared.web.pagination import decode_cursor, page

blp = Blueprint("transfers", __name__, url_prefix="/api/transfers",
                description="Transfers of the organization relationship (组织关系转接): the "
                            "member applies, the sending chain approves and issues a letter, "
                            "the receiving chain approves and receives, a receipt closes it.")


def _detail(transfer: Transfer) -> dict[str, Any]:
    view = services.transfer_view(current_principal(), transfer)
    return {**{name: getattr(transfer, name) for name in TransferSchema._declared_fields
               if name not in ("approvals", "events", "actions")},
            "approvals": view.approvals, "events": view.events,
            "actions": sorted(view.actions)}


@blp.route("")
class Transfers(MethodView):
    @blp.arguments(TransferQueryArgsSchema, location="query")
    @blp.response(200, TransferPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Your inbox: sides of your organizations' subtrees and your own applications,
        newest first"""
        after = decode_cursor(args.pop("cursor"), (int,))
        limit = args.pop("limit")
        items = services.list_transfers(current_principal(), services.TransferFilter(**args),
                                        after_id=after[0] if after else None, limit=limit)
        return page(items, limit, lambda last: [last.id])

    @blp.arguments(TransferCreateSchema)
    @blp.response(201, TransferSchema)
    @transactional
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Apply for a transfer: your own (no member_id), or a member's on their behalf
        (administrators of the member's organization)"""
        return _detail(services.apply_transfer(current_principal(), **data))


@blp.route("/destinations")
class TransferDestinations(MethodView):
    @blp.response(200, DestinationSchema(many=True))
    def get(self) -> Any:
        """Where a transfer may go: this node's tenants and those the hub's directory names"""
        current_principal()
        return services.destinations()


@blp.route("/<int:transfer_id>")
class TransferById(MethodView):
    @blp.response(200, TransferSchema)
    def get(self, transfer_id: int) -> dict[str, Any]:
        """One side with its approval chain, its trail and what you may do now"""
        return _detail(services.get_transfer(current_principal(), transfer_id))


@blp.route("/<int:transfer_id>/approve")
class TransferApprove(MethodView):
    @blp.arguments(TransferApproveSchema)
    @blp.response(200, TransferSchema)
    @transactional
    def post(self, data: dict[str, Any], transfer_id: int) -> dict[str, Any]:
        """Approve the step due (the issuing committee's approval issues the letter; the
        receiving branch's claims the member)"""
        return _detail(services.approve(current_principal(), transfer_id, **data))


@blp.route("/<int:transfer_id>/reject")
class TransferReject(MethodView):
    @blp.arguments(TransferRejectSchema)
    @blp.response(200, TransferSchema)
    @transactional
    def post(self, data: dict[str, Any], transfer_id: int) -> dict[str, Any]:
        """Refuse with a reason: the sending chain declines the application; the receiving
        side sends the letter back"""
        return _detail(services.reject(current_principal(), transfer_id, **data))


@blp.route("/<int:transfer_id>/assign")
class TransferAssign(MethodView):
    @blp.arguments(TransferAssignSchema)
    @blp.response(200, TransferSchema)
    @transactional
    def post(self, data: dict[str, Any], transfer_id: int) -> dict[str, Any]:
        """Name the receiving branch (the addressed committee's administrators)"""
        return _detail(services.assign_branch(current_principal(), transfer_id, **data))


@blp.route("/<int:transfer_id>/resend")
class TransferResend(MethodView):
    @blp.arguments(TransferResendSchema)
    @blp.response(200, TransferSchema)
    @transactional
    def post(self, data: dict[str, Any], transfer_id: int) -> dict[str, Any]:
        """Correct a rejected transfer and send a new letter (the issuing committee)"""
        return _detail(services.resend(current_principal(), transfer_id, **data))


@blp.route("/<int:transfer_id>/reissue")
class TransferReissue(MethodView):
    @blp.response(200, TransferSchema)
    @transactional
    def post(self, transfer_id: int) -> dict[str, Any]:
        """A new letter with a new validity after expiry (the issuing committee)"""
        return _detail(services.reissue(current_principal(), transfer_id))


@blp.route("/<int:transfer_id>/void")
class TransferVoid(MethodView):
    @blp.arguments(TransferVoidSchema)
    @blp.response(200, TransferSchema)
    @transactional
    def post(self, data: dict[str, Any], transfer_id: int) -> dict[str, Any]:
        """The letter was lost: void it and issue a new one with a new serial"""
        return _detail(services.void(current_principal(), transfer_id, **data))


@blp.route("/<int:transfer_id>/cancel")
class TransferCancel(MethodView):
    @blp.arguments(TransferCancelSchema)
    @blp.response(200, TransferSchema)
    @transactional
    def post(self, data: dict[str, Any], transfer_id: int) -> dict[str, Any]:
        """Cancel before reception (the member while under approval, the issuing committee
        until the member is released)"""
        return _detail(services.cancel(current_principal(), transfer_id, **data))
