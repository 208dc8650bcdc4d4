"""`partynet hub directive create|publish|withdraw|list|show`: the hub administrator's
directives and study items from the command line (the same services as the console)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from hub.accounts.models import HubRole
from hub.auth.principal import HubPrincipal
from hub.db import db
from hub.directives import services
from hub.directives.models import Audience, DirectiveKind, DirectiveStatus, Priority, TargetKind
from shared.db.session import transaction
from shared.errors import InvalidInput

#: The operator at the command line reads everything (like an administrator).
OPERATOR = HubPrincipal(account_id=0, username="cli", role=HubRole.administrator)


def parse_link(text: str) -> dict[str, str]:
    title, sep, url = text.partition("=")
    if not sep:
        raise InvalidInput("A link is TITLE=URL.", errors={"links": ["TITLE=URL."]})
    return {"title": title.strip(), "url": url.strip()}


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def directive_group(*, make_app: Callable[[], Any], on_domain_error: Callable[[Any], Any]
                    ) -> click.Group:
    @click.group("directive")
    def group() -> None:
        """Directives and study items for the nodes (上情下达), and their read-back."""

    @group.command("create")
    @click.option("--title", required=True)
    @click.option("--body", default="", help="The text (or --body-file).")
    @click.option("--body-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                  default=None, help="Read the text from this UTF-8 file.")
    @click.option("--kind", type=click.Choice([k.value for k in DirectiveKind]),
                  default="directive", show_default=True)
    @click.option("--priority", type=click.Choice([p.value for p in Priority]),
                  default="normal", show_default=True)
    @click.option("--pinned/--not-pinned", default=False, show_default=True)
    @click.option("--deadline", default=None,
                  help="YYYY-MM-DD (end of that day, UTC+8) or an ISO time.")
    @click.option("--audience", type=click.Choice([a.value for a in Audience]),
                  default="all", show_default=True,
                  help="All members, or the organizations' secretaries only.")
    @click.option("--link", "links", multiple=True, help="TITLE=URL (repeatable).")
    @click.option("--region", default=None,
                  help="Target the tenants whose region code starts with these digits.")
    @click.option("--tenant", "tenants", multiple=True,
                  help="Target this tenant, NODE/SLUG (repeatable).")
    @click.option("--by", required=True, help="Who writes it (recorded).")
    @click.option("--publish", "publish_now", is_flag=True, help="Publish it at once.")
    @on_domain_error
    def create(title: str, body: str, body_file: Path | None, kind: str, priority: str,
               pinned: bool, deadline: str | None, audience: str, links: tuple[str, ...],
               region: str | None, tenants: tuple[str, ...], by: str,
               publish_now: bool) -> None:
        """Write a draft (every node's tenants unless --region or --tenant says otherwise)."""
        make_app()
        if region is not None and tenants:
            raise click.UsageError("Give --region or --tenant, not both.")
        target = (TargetKind.region if region is not None
                  else TargetKind.tenants if tenants else TargetKind.all)
        data = {"title": title,
                "body": body_file.read_text(encoding="utf-8") if body_file else body,
                "kind": DirectiveKind(kind), "priority": Priority(priority), "pinned": pinned,
                "deadline": services.parse_deadline(deadline), "audience": Audience(audience),
                "links": [parse_link(link) for link in links], "target_kind": target,
                "target_region": region, "target_tenants": list(tenants)}
        with transaction(db):
            directive = services.create_directive(data, by=by)
            sent = services.publish(directive, by=by) if publish_now else None
            directive_id = directive.id
        click.echo(f"directive {directive_id} created")
        if sent is not None:
            click.echo(f"directive {directive_id} published to {len(sent)} node(s)")

    @group.command("publish")
    @click.argument("directive_id", type=int)
    @click.option("--by", required=True, help="Who publishes it (recorded).")
    @on_domain_error
    def publish(directive_id: int, by: str) -> None:
        """Send a draft to its targeted tenants (one message per node)."""
        make_app()
        with transaction(db):
            sent = services.publish(services.get_directive(directive_id), by=by)
        click.echo(f"directive {directive_id} published to {len(sent)} node(s)")

    @group.command("withdraw")
    @click.argument("directive_id", type=int)
    @click.option("--by", required=True, help="Who withdraws it (recorded).")
    @on_domain_error
    def withdraw(directive_id: int, by: str) -> None:
        """Withdraw a published directive from every node that has it."""
        make_app()
        with transaction(db):
            sent = services.withdraw(services.get_directive(directive_id), by=by)
        click.echo(f"directive {directive_id} withdrawn from {len(sent)} node(s)")

    @group.command("list")
    @click.option("--status", type=click.Choice([s.value for s in DirectiveStatus]),
                  default=None)
    @click.option("--limit", default=50, type=click.IntRange(1, 1000), show_default=True)
    @on_domain_error
    def list_(status: str | None, limit: int) -> None:
        """Directives, newest first, with their read and completion."""
        make_app()
        with transaction(db):
            for d in services.list_directives(
                    OPERATOR, status=DirectiveStatus(status) if status else None, limit=limit):
                total = services.completion_total(OPERATOR, d)
                click.echo(f"{d.id:>5}  {d.status:<9}  {d.kind:<9}  {d.priority:<6}  "
                           f"{total.tenants:>3} tenant(s)  read {_rate(total.read_rate):>4}  "
                           f"completed {_rate(total.completion_rate):>4}  {d.title}")

    @group.command("show")
    @click.argument("directive_id", type=int)
    @click.option("--level", type=click.Choice(["2", "4", "6"]), default="2",
                  show_default=True, help="Region roll-up: digits of the region code.")
    @on_domain_error
    def show(directive_id: int, level: str) -> None:
        """One directive, with completion per node and per region."""
        make_app()
        with transaction(db):
            d = services.get_directive(directive_id)
            click.echo(f"directive {d.id}: {d.title}")
            click.echo(f"  {d.kind}, {d.priority}{', pinned' if d.pinned else ''}, for "
                       f"{d.audience}; status {d.status}")
            if d.deadline:
                click.echo(f"  deadline {d.deadline.isoformat()}")
            target = {"all": "every node", "region": f"region {d.target_region}",
                      "tenants": ", ".join(d.target_tenants)}[d.target_kind]
            click.echo(f"  target: {target}")
            for title, rows in (("per node", services.completion_by_node(OPERATOR, d)),
                                ("per region", services.completion_by_region(
                                    OPERATOR, d, int(level)))):
                click.echo(f"  {title}:")
                for c in rows:
                    click.echo(f"    {c.key:<20} {c.reported}/{c.tenants} reported  "
                               f"targeted {c.targeted}  read {c.read} "
                               f"({_rate(c.read_rate)})  completed {c.completed} "
                               f"({_rate(c.completion_rate)})")

    return group
