"""HTTP for accounts and the signed-in principal."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from node.accounts import services
from node.accounts.models import Account
from node.accounts.schemas import (
    AccountCreateSchema,
    AccountPageSchema,
    AccountSchema,
    AccountUpdateSchema,
    MeSchema,
    PasswordChangeSchema,
)
from node.auth.principal import current_principal
from node.db import db
from node.extensions import transactional
from node.tenants.services import current_tenant
from shared.web.api import Blueprint
from shared.web.pagination import CursorPageArgsSchema, decode_cursor, page

blp = Blueprint("accounts", __name__, url_prefix="/api/accounts",
                description="Local accounts of the tenant.")
me_blp = Blueprint("me_account", __name__, url_prefix="/api/me",
                   description="The signed-in principal.")


@blp.route("")
class Accounts(MethodView):
    @blp.arguments(CursorPageArgsSchema, location="query")
    @blp.response(200, AccountPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Accounts you administer"""
        after = decode_cursor(args["cursor"], (int,))
        items = services.list_accounts(current_principal(), after_id=after[0] if after else None,
                                       limit=args["limit"])
        return page(items, args["limit"], lambda last: [last.id])

    @blp.arguments(AccountCreateSchema)
    @blp.response(201, AccountSchema)
    @transactional
    def post(self, data: dict[str, Any]) -> Account:
        """Create an account (tenant administrators; org administrators for their members)"""
        return services.create_account(current_principal(), **data)


@blp.route("/<int:account_id>")
class AccountById(MethodView):
    @blp.response(200, AccountSchema)
    def get(self, account_id: int) -> Account:
        """An account"""
        return services.get_account(current_principal(), account_id)

    @blp.arguments(AccountUpdateSchema)
    @blp.response(200, AccountSchema)
    @transactional
    def patch(self, data: dict[str, Any], account_id: int) -> Account:
        """Enable or disable an account, link it to a member record or unlink it"""
        return services.update_account(current_principal(), account_id, data)


@me_blp.route("")
class Me(MethodView):
    @me_blp.response(200, MeSchema)
    def get(self) -> dict[str, Any]:
        """Who you are: account, tenant and grants"""
        principal = current_principal()
        return {"account": db.session.get(Account, principal.account_id),
                "tenant": current_tenant().slug,
                "grants": [{"role": role.value, "org_code": code}
                           for role, code in principal.grants]}


@me_blp.route("/password")
class MyPassword(MethodView):
    @me_blp.arguments(PasswordChangeSchema)
    @me_blp.response(204)
    @transactional
    def post(self, data: dict[str, Any]) -> None:
        """Change your password"""
        account = db.session.get(Account, current_principal().account_id)
        assert account is not None
        services.change_password(account, current=data["current_password"],
                                 new=data["new_password"])
