"""HTTP for articles and notices: translate requests to services, nothing more."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import marshmallow as ma
from flask import Request, Response, current_app, send_file
from flask.views import MethodView
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict

from node.auth.principal import current_principal
from node.content import services
from node.content.schemas import (
    ArticleCreateSchema,
    ArticlePageSchema,
    ArticleQueryArgsSchema,
    ArticleSchema,
    ArticleUpdateSchema,
    AttachmentSchema,
    AttachmentUploadSchema,
    CountersSchema,
    WithdrawSchema,
)
from node.extensions import transactional
from node.tenants.services import current_tenant
from shared.web.api import Blueprint
from shared.web.pagination import decode_cursor, page
from shared.web.problems import PROBLEM_MIMETYPE, ProblemSchema


class _MultipartParser(FlaskParser):
    __location_map__ = {**FlaskParser.__location_map__, "multipart": "load_multipart"}

    def load_multipart(self, req: Request, schema: ma.Schema) -> Any:
        return self._makeproxy(CombinedMultiDict([req.form, req.files]), schema)


blp = Blueprint("articles", __name__, url_prefix="/api/articles",
                description="Articles and notices of the organizations; public ones also "
                            "appear in the hub's national feed.")
blp.ARGUMENTS_PARSER = _MultipartParser()
blp.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {**blp.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
                                             "multipart": "multipart/form-data"}


def attachments_root() -> Path:
    configured = current_app.config.get("CONTENT_ATTACHMENTS_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "attachments"


def _max_bytes() -> int:
    return int(current_app.config.get("CONTENT_MAX_ATTACHMENT_BYTES",
                                      services.MAX_ATTACHMENT_BYTES))


def _detail(article: Any) -> dict[str, Any]:
    principal = current_principal()
    values = {name: getattr(article, name) for name in ArticleSchema._declared_fields
              if name not in ("liked", "attachments")}
    return {**values, "liked": services.liked_by(principal, article),
            "attachments": services.attachments_of(article)}


@blp.route("")
class Articles(MethodView):
    @blp.arguments(ArticleQueryArgsSchema, location="query")
    @blp.response(200, ArticlePageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Articles you may read, newest first"""
        principal = current_principal()
        after = decode_cursor(args["cursor"], (int,))
        items = services.list_articles(
            principal, org_id=args["org_id"], kind=args["kind"], status=args["status"],
            visibility=args["visibility"], before_id=after[0] if after else None,
            limit=args["limit"])
        return page(items, args["limit"], lambda last: [last.id])

    @blp.arguments(ArticleCreateSchema)
    @blp.response(201, ArticleSchema)
    @transactional
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Write a draft for an organization you administer"""
        return _detail(services.create_article(current_principal(), data))


@blp.route("/<int:article_id>")
class ArticleById(MethodView):
    @blp.response(200, ArticleSchema)
    def get(self, article_id: int) -> dict[str, Any]:
        """An article you may read (views are counted with POST .../views)"""
        return _detail(services.get_article(current_principal(), article_id))

    @blp.arguments(ArticleUpdateSchema)
    @blp.response(200, ArticleSchema)
    @transactional
    def patch(self, data: dict[str, Any], article_id: int) -> dict[str, Any]:
        """Edit an article (a published public one is re-sent to the hub)"""
        principal = current_principal()
        article = services.get_for_update(principal, article_id)
        return _detail(services.update_article(principal, article, data, current_tenant()))


@blp.route("/<int:article_id>/publish")
class ArticlePublish(MethodView):
    @blp.response(200, ArticleSchema)
    @transactional
    def post(self, article_id: int) -> dict[str, Any]:
        """Publish a draft or withdrawn article (public ones go to the national feed)"""
        principal = current_principal()
        article = services.get_for_update(principal, article_id)
        return _detail(services.publish_article(principal, article, current_tenant()))


@blp.route("/<int:article_id>/withdraw")
class ArticleWithdraw(MethodView):
    @blp.arguments(WithdrawSchema)
    @blp.response(200, ArticleSchema)
    @transactional
    def post(self, data: dict[str, Any], article_id: int) -> dict[str, Any]:
        """Withdraw a published article (the hub gets a tombstone)"""
        principal = current_principal()
        article = services.get_for_update(principal, article_id)
        return _detail(services.withdraw_article(principal, article, current_tenant(),
                                                 reason=data["reason"]))


@blp.route("/<int:article_id>/views")
class ArticleViews(MethodView):
    @blp.response(200, CountersSchema)
    @transactional
    def post(self, article_id: int) -> dict[str, Any]:
        """Count one view of a published article you may read"""
        principal = current_principal()
        services.count_view(principal, article_id)
        article = services.get_article(principal, article_id)
        return {"view_count": article.view_count, "like_count": article.like_count,
                "liked": services.liked_by(principal, article)}


@blp.route("/<int:article_id>/like")
class ArticleLike(MethodView):
    @blp.response(200, CountersSchema)
    @transactional
    def put(self, article_id: int) -> dict[str, Any]:
        """Like a published article (once per account; again changes nothing)"""
        article = services.like(current_principal(), article_id)
        return {"view_count": article.view_count, "like_count": article.like_count,
                "liked": True}

    @blp.response(204)
    @transactional
    def delete(self, article_id: int) -> None:
        """Take your like back (nothing to take back is fine too)"""
        services.unlike(current_principal(), article_id)


@blp.route("/<int:article_id>/attachments")
class ArticleAttachments(MethodView):
    @blp.arguments(AttachmentUploadSchema, location="multipart")
    @blp.response(201, AttachmentSchema)
    @blp.alt_response(413, schema=ProblemSchema, content_type=PROBLEM_MIMETYPE,
                      description="The file is larger than the attachment limit")
    @transactional
    def post(self, form: dict[str, Any], article_id: int) -> Any:
        """Attach a file (multipart field `file`) to an article you administer"""
        principal = current_principal()
        article = services.get_for_update(principal, article_id)
        upload = form["file"]
        return services.add_attachment(principal, article, upload.stream,
                                       filename=upload.filename,
                                       content_type=upload.mimetype, root=attachments_root(),
                                       max_bytes=_max_bytes())


@blp.route("/<int:article_id>/attachments/<int:attachment_id>")
class AttachmentById(MethodView):
    @blp.alt_response(200, description="The file, as an attachment download")
    def get(self, article_id: int, attachment_id: int) -> Response:
        """Download an attachment of an article you may read"""
        found = services.get_attachment(current_principal(), article_id, attachment_id,
                                        attachments_root())
        response = send_file(found.path, mimetype=found.content_type, as_attachment=True,
                             download_name=found.filename, max_age=0, conditional=False)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "private, no-store"
        return response
