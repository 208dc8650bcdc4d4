"""HTTP for floating certificates: translate requests to `node.floating.services`."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from node.auth.principal import current_principal
from node.extensions import transactional
from node.floating import services
from node.floating.models import FloatingCertificate
from node.floating.schemas import (
    CertificateCreateSchema,
    CertificateDetailSchema,
    CertificatePageSchema,
    CertificateQueryArgsSchema,
    DeclineSchema,
    EndSchema,
    MyCertificatesSchema,
    ParticipationCreateSchema,
    ParticipationSchema,
)
from node.grants.models import Role
from node.tenants.services import current_tenant
from shared.web.api import Blueprint
from shared.web.pagination import decode_cursor, page

blp = Blueprint("floating", __name__, url_prefix="/api/floating",
                description="Floating members (流动党员): certificates issued by the home "
                            "organization and accepted by a host, the host's participation "
                            "records; the relationship does not move and there is no vote at "
                            "the host.")
me_blp = Blueprint("me_floating", __name__, url_prefix="/api/me/floating",
                   description="The signed-in member's floating certificates.")


def _detail(cert: FloatingCertificate) -> dict[str, Any]:
    values = {name: getattr(cert, name) for name in CertificateDetailSchema._declared_fields
              if name != "participation"}
    return {**values, "participation": services.participations(cert)}


@blp.route("")
class Certificates(MethodView):
    @blp.arguments(CertificateQueryArgsSchema, location="query")
    @blp.response(200, CertificatePageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Certificates within your reach: your members floating elsewhere (home side) and
        floating members with your organizations (host side), newest first"""
        after = decode_cursor(args["cursor"], (int,))
        items = services.list_certificates(
            current_principal(), services.CertificateFilter(side=args["side"],
                                                            status=args["status"]),
            after_id=after[0] if after else None, limit=args["limit"])
        return page(items, args["limit"], lambda last: [last.id])

    @blp.arguments(CertificateCreateSchema)
    @blp.response(201, CertificateDetailSchema)
    @transactional
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Issue a certificate for a member of your organization, addressed to a host branch
        of this node or of another node (the host accepts it)"""
        return _detail(services.issue_certificate(current_principal(), current_tenant(), data))


@blp.route("/<int:certificate_id>")
class CertificateById(MethodView):
    @blp.response(200, CertificateDetailSchema)
    def get(self, certificate_id: int) -> dict[str, Any]:
        """A certificate (either side) within your reach, with the participation recorded"""
        return _detail(services.get_certificate(current_principal(), certificate_id))


@blp.route("/<int:certificate_id>/accept")
class CertificateAccept(MethodView):
    @blp.response(200, CertificateDetailSchema)
    @transactional
    def post(self, certificate_id: int) -> dict[str, Any]:
        """Accept a pending certificate (the host organization's administrators)"""
        principal = current_principal()
        cert = services.get_certificate(principal, certificate_id, Role.org_admin)
        return _detail(services.accept_certificate(principal, cert))


@blp.route("/<int:certificate_id>/decline")
class CertificateDecline(MethodView):
    @blp.arguments(DeclineSchema)
    @blp.response(200, CertificateDetailSchema)
    @transactional
    def post(self, data: dict[str, Any], certificate_id: int) -> dict[str, Any]:
        """Decline a pending certificate, with the reason (the host's administrators)"""
        principal = current_principal()
        cert = services.get_certificate(principal, certificate_id, Role.org_admin)
        return _detail(services.decline_certificate(principal, cert, data["reason"]))


@blp.route("/<int:certificate_id>/end")
class CertificateEnd(MethodView):
    @blp.arguments(EndSchema)
    @blp.response(200, CertificateDetailSchema)
    @transactional
    def post(self, data: dict[str, Any], certificate_id: int) -> dict[str, Any]:
        """End an open certificate: the member returned or left (either side); the home side
        cancels one not yet accepted"""
        principal = current_principal()
        cert = services.get_certificate(principal, certificate_id, Role.org_admin)
        return _detail(services.end_certificate(principal, cert, reason=data["reason"]))


@blp.route("/<int:certificate_id>/participation")
class CertificateParticipation(MethodView):
    @blp.arguments(ParticipationCreateSchema)
    @blp.response(200, ParticipationSchema)
    @transactional
    def post(self, data: dict[str, Any], certificate_id: int) -> Any:
        """Record the floating member at one of the host's held meetings (present, excused
        with a reason, absent); again for the same meeting updates it"""
        principal = current_principal()
        cert = services.get_certificate(principal, certificate_id, Role.org_admin)
        return services.record_participation(principal, cert, meeting_id=data["meeting_id"],
                                             status=data["status"], reason=data["reason"])


@me_blp.route("")
class MyCertificates(MethodView):
    @me_blp.response(200, MyCertificatesSchema)
    def get(self) -> dict[str, Any]:
        """Your own floating certificates"""
        return {"items": services.own_certificates(current_principal())}
