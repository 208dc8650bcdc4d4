"""GET/POST /api/accounts, POST /api/accounts/<id>/deactivate (administrators) and GET /api/me
(any hub account): hub accounts over the API."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask.views import MethodView

from hub.accounts import services
from hub.accounts.models import HubAccount, HubRole
from hub.accounts.schemas import (
    HubAccountCreateSchema,
    HubAccountPageSchema,
    HubAccountSchema,
    HubMeSchema,
)
from hub.auth.bearer import requires
from hub.auth.principal import current_hub_principal
from hub.db import db
from shared.db import transaction
from shared.web.api import Blueprint
from shared.web.pagination import CursorPageArgsSchema, decode_cursor, page

blp = Blueprint("hub_accounts_api", __name__, url_prefix="/api",
                description="Hub accounts: administrators, auditors and region viewers.")


@blp.route("/accounts")
class HubAccounts(MethodView):
    @requires(HubRole.administrator)
    @blp.arguments(CursorPageArgsSchema, location="query")
    @blp.response(200, HubAccountPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Hub accounts, service accounts included (administrators)"""
        after = decode_cursor(args["cursor"], (int,))
        query = sa.select(HubAccount).order_by(HubAccount.id).limit(args["limit"])
        if after:
            query = query.where(HubAccount.id > after[0])
        items = db.session.scalars(query).all()
        return page(items, args["limit"], lambda last: [last.id])

    @requires(HubRole.administrator)
    @blp.arguments(HubAccountCreateSchema)
    @blp.response(201, HubAccountSchema)
    def post(self, data: dict[str, Any]) -> HubAccount:
        """Create a hub account (administrators)"""
        principal = current_hub_principal()
        with transaction(db):
            return services.create_account(**{**data, "role": HubRole(data["role"])},
                                           created_by=f"hub:{principal.username}")


@blp.route("/accounts/<int:account_id>")
class HubAccountById(MethodView):
    @requires(HubRole.administrator)
    @blp.response(200, HubAccountSchema)
    def get(self, account_id: int) -> HubAccount:
        """A hub account (administrators)"""
        return services.get_account(account_id)


@blp.route("/accounts/<int:account_id>/deactivate")
class HubAccountDeactivation(MethodView):
    @requires(HubRole.administrator)
    @blp.response(200, HubAccountSchema)
    def post(self, account_id: int) -> HubAccount:
        """Deactivate a hub account: its sessions and tokens stop working (administrators)"""
        with transaction(db):
            return services.deactivate_account(services.get_account(account_id),
                                               by=current_hub_principal())


@blp.route("/me")
class HubMe(MethodView):
    @requires(HubRole.region_viewer)
    @blp.response(200, HubMeSchema)
    def get(self) -> dict[str, Any]:
        """The account behind the token, its role and scopes (any hub account)"""
        principal = current_hub_principal()
        return {"account": services.get_account(principal.account_id),
                "scopes": sorted(principal.scopes)}
