"""Bulk import of members: check every row first, then insert in bulk in the caller's transaction.

Checking never writes. Rows are checked on their own first (required fields, national ID,
stage, dates, the API's length and format rules), then against the database in a few bulk
queries (organizations, reach, national IDs already registered). Applying copies the members
in batches (COPY on PostgreSQL) and derives their history and audit rows in the database
(INSERT ... SELECT): the ORM unit of work would take minutes for 100,000 members. Core bypasses
the tenant hooks and the automatic audit, so `tenant_id` and the audit rows (the same snapshot
the automatic audit writes, one per member, plus a summary) are written here explicitly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any, cast

import sqlalchemy as sa
from marshmallow import ValidationError

from node.audit.models import AuditEntry
from node.audit.recording import entry_row, record
from node.auth.principal import Principal
from node.db import db
from node.grants.models import Role
from node.identity import services as identity_index
from node.imports import bulk, parsing
from node.members.identity import identity
from node.members.models import (
    Education,
    Gender,
    Member,
    OrgChange,
    Stage,
    StageChange,
    Status,
    StatusChange,
)
from node.members.schemas import MemberCreateSchema
from node.members.services import allocate_member_numbers, check_member_org
from node.orgs.models import Org
from node.tenants.models import Tenant
from shared import identity as nid
from shared.codes import SEGMENT_WIDTH
from shared.db import UTCDateTime, utcnow
from shared.errors import Forbidden, InvalidInput

#: Larger files are refused (memory stays bounded: a checked row is kept until it is inserted).
MAX_ROWS = 200_000
#: The report lists at most this many errors by default; the counts are always complete.
MAX_REPORTED_ERRORS = 10_000
#: Members per INSERT batch (each batch also writes 3 history rows and 1 audit row per member).
BATCH_SIZE = 5_000
_PROGRESS_EVERY = 1_000

STAGE_LABELS: dict[str, Stage] = {stage.value: stage for stage in Stage} | {
    "入党申请人": Stage.applicant,
    "积极分子": Stage.activist,
    "入党积极分子": Stage.activist,
    "发展对象": Stage.candidate,
    "预备党员": Stage.probationary,
    "正式党员": Stage.full,
}
EDUCATION_LABELS: dict[str, Education] = {level.value: level for level in Education} | {
    "小学": Education.primary,
    "初中": Education.junior_secondary,
    "高中": Education.senior_secondary,
    "中专": Education.vocational,
    "中职": Education.vocational,
    "大专": Education.associate,
    "大学专科": Education.associate,
    "本科": Education.bachelor,
    "大学本科": Education.bachelor,
    "硕士": Education.master,
    "硕士研究生": Education.master,
    "博士": Education.doctorate,
    "博士研究生": Education.doctorate,
}
#: Free-text fields, checked with the validators of the API's create schema.
TEXT_FIELDS = ("name", "ethnicity", "phone", "email", "address", "work_unit", "occupation")
_API_FIELDS = MemberCreateSchema().fields
#: The date of the first stage-history entry: the date of the stage itself when the file has it.
_STAGE_DATE = {Stage.applicant: "applied_on", Stage.probationary: "admitted_on",
               Stage.full: "full_on"}
#: The automatic audit's snapshot of a member (node.audit.recording): no cipher, no hash.
AUDIT_FIELDS = tuple(
    attr.key for attr in sa.inspect(Member).column_attrs
    if attr.key not in Member.__audit_exclude__ | {"created_at", "updated_at", "tenant_id"})
UNKNOWN_ORG = "Unknown organization."

#: Called with (phase, rows done, rows expected or None); phases are "validate" and "insert".
Progress = Callable[[str, int, int | None], None]


class ImportRejected(InvalidInput):
    """Nothing was imported because rows have errors; the problem carries the report."""

    code = "import-rejected"
    title = "Import rejected"


@dataclasses.dataclass(frozen=True, slots=True)
class RowError:
    row: int
    field: str | None
    message: str


@dataclasses.dataclass(slots=True)
class _Row:
    """One data row as checked so far; only rows without errors are ever inserted."""

    number: int
    name: str | None = None
    national_id: str | None = None
    digest: str | None = None
    org_code: str | None = None
    org_external_code: str | None = None
    stage: Stage | None = None
    education: Education | None = None
    ethnicity: str | None = None
    phone: str | None = None
    email: str | None = None
    address: str | None = None
    work_unit: str | None = None
    occupation: str | None = None
    applied_on: dt.date | None = None
    admitted_on: dt.date | None = None
    full_on: dt.date | None = None
    org: Org | None = None


@dataclasses.dataclass
class ImportReport:
    format: str
    dry_run: bool
    all_or_nothing: bool
    total_rows: int = 0
    valid_rows: int = 0
    error_rows: int = 0
    applied: bool = False
    created: int = 0
    errors: list[RowError] = dataclasses.field(default_factory=list)
    errors_truncated: bool = False
    first_member_number: str | None = None
    last_member_number: str | None = None
    validate_seconds: float = 0.0
    insert_seconds: float = 0.0

    @property
    def rejected(self) -> bool:
        """An import (not a dry run) that wrote nothing because of errors: 422, exit code 1."""
        return not self.dry_run and not self.applied


class _Errors:
    """Row errors in file order, with the set of rows that have any."""

    def __init__(self) -> None:
        self.items: list[RowError] = []
        self.rows: set[int] = set()

    def add(self, row: int, field: str | None, message: str) -> None:
        self.items.append(RowError(row, field, message))
        self.rows.add(row)


def import_members(principal: Principal, tenant: Tenant, stream: IO[bytes], *,
                   filename: str | None, dry_run: bool = False, all_or_nothing: bool = True,
                   progress: Progress | None = None,
                   max_errors: int | None = MAX_REPORTED_ERRORS) -> ImportReport:
    """Check a CSV/XLSX file of members and, unless it is a dry run, insert them.

    Every row is checked before anything is written. With `all_or_nothing` (the default) a
    single row error means nothing is written; otherwise the valid rows are inserted and the
    others reported. Rows whose organization is outside the principal's org_admin reach are
    row errors, worded like unknown organizations.
    """
    if not principal.prefixes(Role.org_admin):
        raise Forbidden("Importing members needs an administrator role.")
    notify = progress or (lambda _phase, _done, _total: None)
    started = time.perf_counter()
    errors = _Errors()
    with parsing.open_table(stream, filename) as table:
        rows = list(_check_rows(table, errors, notify))
        report = ImportReport(format=table.format.value, dry_run=dry_run,
                              all_or_nothing=all_or_nothing, total_rows=len(rows))
    if not rows:
        raise parsing.file_error("The file has no data rows.")
    if not dry_run:  # the member-number lock, from the duplicate check to the insert
        db.session.refresh(tenant, with_for_update=True)
    digests: dict[str, list[int]] = {}  # national ID hash -> rows with it
    _DatabaseChecks(principal, tenant).run(rows, errors, digests)
    _flag_duplicates(digests, errors)
    notify("validate", len(rows), len(rows))
    valid = [row for row in rows if row.number not in errors.rows]
    del rows, digests
    report.valid_rows, report.error_rows = len(valid), len(errors.rows)
    items = sorted(errors.items, key=lambda e: e.row)
    report.errors_truncated = max_errors is not None and len(items) > max_errors
    report.errors = items[:max_errors] if max_errors is not None else items
    inserting = time.perf_counter()
    report.validate_seconds = inserting - started
    if dry_run or not valid or (errors.rows and all_or_nothing):
        return report
    numbers = _insert(tenant, valid, lambda done: notify("insert", done, len(valid)))
    report.applied, report.created = True, len(numbers)
    report.first_member_number, report.last_member_number = numbers[0], numbers[-1]
    record(db.session(), action="members.import", entity_type="member", entity_id=None,
           scope_code=_common_org_code({row.org.code for row in valid if row.org}, tenant),
           before=None, tenant_id=tenant.id, after={
               "file": filename, "format": report.format, "total_rows": report.total_rows,
               "error_rows": report.error_rows, "created": report.created,
               "all_or_nothing": all_or_nothing, "first_member_number": numbers[0],
               "last_member_number": numbers[-1]})
    report.insert_seconds = time.perf_counter() - inserting
    return report


# -- checks that need no database ------------------------------------------------------------


def _check_rows(table: parsing.Table, errors: _Errors, notify: Progress) -> Iterator[_Row]:
    check = _RowChecker(table.columns, errors)
    clean = _strip_all if table.format == parsing.FileFormat.csv else _texts
    count = 0
    for number, cells in table.rows:
        texts = clean(cells)
        if not any(texts):
            continue  # blank lines are not rows of data
        count += 1
        if count > MAX_ROWS:
            raise parsing.file_error(f"The file has more than {MAX_ROWS} rows; split it.")
        yield check(number, cells, texts)
        if count % _PROGRESS_EVERY == 0:
            notify("validate", count, table.estimated_rows)


def _strip_all(cells: Sequence[str]) -> list[str | None]:
    return [cell.strip() or None for cell in cells]


def _texts(cells: Sequence[Any]) -> list[str | None]:
    return [parsing.cell_text(cell) for cell in cells]


class _RowChecker:
    """Checks one row at a time; where each field sits is worked out once per file."""

    def __init__(self, columns: list[str | None], errors: _Errors) -> None:
        self.errors, self.today, self.width = errors, dt.date.today(), len(columns)
        self.hasher = identity().hasher
        self.unnamed = [index for index, field in enumerate(columns) if field is None]
        at = {field: index for index, field in enumerate(columns) if field is not None}
        self.text_fields = [(field, at[field], tuple(_API_FIELDS[field].validators))
                            for field in TEXT_FIELDS if field in at]
        self.date_fields = [(field, at[field]) for field in parsing.DATE_FIELDS if field in at]
        self.national_id, self.stage = at["national_id"], at["stage"]
        self.org_code, self.org_external_code = at.get("org_code"), at.get("org_external_code")
        self.education = at.get("education")
        self.org_field = "org_code" if "org_code" in at else "org_external_code"

    def __call__(self, number: int, cells: Sequence[Any], texts: list[str | None]) -> _Row:
        add = self.errors.add
        if len(texts) != self.width:
            for index in range(self.width, len(texts)):
                if texts[index] is not None:
                    add(number, None, f"A value in column {index + 1}, which has no header.")
            texts = (texts + [None] * self.width)[:self.width]
        for index in self.unnamed:
            if texts[index] is not None:
                add(number, None, f"A value in column {index + 1}, which has no header.")
        row = _Row(number)

        for field, index, validators in self.text_fields:
            value = texts[index]
            if value is None:
                if field == "name":
                    add(number, field, "Required.")
                continue
            try:
                for validator in validators:
                    validator(value)
            except ValidationError as exc:
                add(number, field, _message(exc))
                continue
            setattr(row, field, value)

        raw_id = texts[self.national_id]
        if raw_id is None:
            add(number, "national_id", "Required.")
        else:
            try:
                row.digest = self.hasher.hash(raw_id)  # validates and normalizes first
                # A valid 18-character ID with an upper-case X (or none) is its own normal form;
                # normalizing it again would double the cost of the most expensive check.
                row.national_id = (raw_id if len(raw_id) == 18 and raw_id[-1] != "x"
                                   else nid.normalize_national_id(raw_id))
            except nid.InvalidNationalId as exc:
                add(number, "national_id", str(exc))

        if self.org_code is not None:
            row.org_code = texts[self.org_code]
        if self.org_external_code is not None:
            row.org_external_code = texts[self.org_external_code]
        if row.org_code is None and row.org_external_code is None:
            add(number, self.org_field, "Required: the organization's code or external code.")

        stage = texts[self.stage]
        if stage is None:
            add(number, "stage", "Required.")
        elif (found := STAGE_LABELS.get(stage) or STAGE_LABELS.get(stage.lower())) is None:
            add(number, "stage", "Unknown stage; use applicant, activist, candidate, "
                                 "probationary, full or 入党申请人, 积极分子, 发展对象, "
                                 "预备党员, 正式党员.")
        else:
            row.stage = found

        education = texts[self.education] if self.education is not None else None
        if education is not None:
            level = EDUCATION_LABELS.get(education) or EDUCATION_LABELS.get(education.lower())
            if level is None:
                add(number, "education", "Unknown level; use " + ", ".join(Education)
                    + " or its Chinese name.")
            row.education = level

        if any(texts[index] is not None for _, index in self.date_fields):
            self._check_dates(row, cells, texts)
        return row

    def _check_dates(self, row: _Row, cells: Sequence[Any], texts: list[str | None]) -> None:
        born = nid.birth_date(row.national_id) if row.national_id else None
        previous: tuple[str, dt.date] | None = None
        for field, index in self.date_fields:  # in pipeline order: applied, admitted, full
            if texts[index] is None:
                continue
            try:
                value = parsing.cell_date(cells[index])
            except ValueError as exc:
                self.errors.add(row.number, field, str(exc))
                continue
            if value > self.today:
                self.errors.add(row.number, field, "In the future.")
            elif born is not None and value < born:
                self.errors.add(row.number, field, "Before the date of birth.")
            elif previous is not None and value < previous[1]:
                self.errors.add(row.number, field, f"Before {previous[0]}.")
            else:
                setattr(row, field, value)
                previous = (field, value)


def _message(exc: ValidationError) -> str:
    messages = exc.messages
    if isinstance(messages, dict):
        return "; ".join(str(m) for m in messages.values())
    if isinstance(messages, list):
        return " ".join(str(m) for m in messages)
    return str(messages)


# -- checks against the database ------------------------------------------------------------


class _DatabaseChecks:
    """Organization and duplicate checks: a few queries for the whole file, not one a row."""

    def __init__(self, principal: Principal, tenant: Tenant) -> None:
        self.principal, self.tenant = principal, tenant
        self.orgs: dict[tuple[str, str], Org | None] = {}  # (column, value) -> org
        self.verdicts: dict[int, str | None] = {}  # org id -> why it cannot take members

    def run(self, rows: list[_Row], errors: _Errors, digests: dict[str, list[int]]) -> None:
        self._check_orgs(rows, errors)
        self._check_registered(rows, errors, digests)

    def _load(self, column: Any, values: set[str]) -> None:
        missing = sorted(v for v in values if (column.key, v) not in self.orgs)
        for condition in bulk.matching(db.session(), column, missing):
            for org in db.session.scalars(sa.select(Org).where(
                    Org.tenant_id == self.tenant.id, condition)):
                self.orgs[(column.key, getattr(org, column.key))] = org
        for value in missing:
            self.orgs.setdefault((column.key, value), None)

    def _verdict(self, org: Org) -> str | None:
        """Within org_admin reach (else "unknown", as in the API) and check_member_org."""
        if org.id not in self.verdicts:
            problem = None
            if not self.principal.can(Role.org_admin, org.code):
                problem = UNKNOWN_ORG
            else:
                try:
                    check_member_org(org)
                except InvalidInput as exc:
                    problem = " ".join((exc.errors or {}).get("org_id", [str(exc)]))
            self.verdicts[org.id] = problem
        return self.verdicts[org.id]

    def _check_orgs(self, rows: list[_Row], errors: _Errors) -> None:
        self._load(Org.code, {row.org_code for row in rows if row.org_code})
        self._load(Org.external_code,
                   {row.org_external_code for row in rows if row.org_external_code})
        for row in rows:
            if row.org_code is not None:
                field, org = "org_code", self.orgs[("code", row.org_code)]
            elif row.org_external_code is not None:
                field, org = "org_external_code", self.orgs[("external_code",
                                                             row.org_external_code)]
            else:
                continue
            problem = UNKNOWN_ORG if org is None else self._verdict(org)
            if problem is not None:
                errors.add(row.number, field, problem)
            elif row.org_code is not None and row.org_external_code is not None \
                    and self.orgs[("external_code", row.org_external_code)] is not org:
                errors.add(row.number, "org_external_code", "Does not match org_code.")
            else:
                row.org = org

    def _check_registered(self, rows: list[_Row], errors: _Errors,
                          digests: dict[str, list[int]]) -> None:
        """Already a member of this tenant; every row's ID is noted in `digests`."""
        wanted = {row.digest for row in rows if row.digest}
        existing: set[str] = set()
        for condition in bulk.matching(db.session(), Member.national_id_hash, wanted):
            existing.update(db.session.scalars(sa.select(Member.national_id_hash).where(
                Member.tenant_id == self.tenant.id, condition)))
        for row in rows:
            if row.digest is not None:
                if row.digest in existing:
                    errors.add(row.number, "national_id", "Already registered.")
                digests.setdefault(row.digest, []).append(row.number)


def _flag_duplicates(digests: dict[str, list[int]], errors: _Errors) -> None:
    """The same person twice in the file: every occurrence is an error."""
    for numbers in digests.values():
        if len(numbers) > 1:
            listed = ", ".join(map(str, numbers[:5])) + (", ..." if len(numbers) > 5 else "")
            for number in numbers:
                errors.add(number, "national_id", f"The same person is in rows {listed}.")


# -- applying ---------------------------------------------------------------------------------


def _table(model: type[Any]) -> sa.Table:
    return cast(sa.Table, model.__table__)


def _insert(tenant: Tenant, rows: list[_Row], on_batch: Callable[[int], None]) -> list[str]:
    """Members in batches; their history and audit rows derived by the database itself.

    Python only makes the member rows (encryption and all); a helper thread makes the next
    batch while the database works on the current one. The three history rows and the audit
    row of each member are INSERT ... SELECTs from the new members.
    """
    session = db.session()
    numbers = allocate_member_numbers(tenant, len(rows))
    session.flush()
    cipher, now = identity().cipher, utcnow()
    audit = entry_row(action="member.import", entity_type="member", entity_id=None,
                      scope_code=None, before=None, after=None, tenant_id=tenant.id)
    audit["at"] = now

    def prepare(start: int) -> list[dict[str, Any]]:
        return [_member_values(row, number, tenant.id, cipher, now) for row, number in zip(
            rows[start:start + BATCH_SIZE], numbers[start:start + BATCH_SIZE], strict=True)]

    done = 0
    with contextlib.closing(bulk.prefetch(
            map(prepare, range(0, len(rows), BATCH_SIZE)))) as batches:
        for members in batches:
            bulk.insert_rows(session, _table(Member), members)
            first, last = members[0]["member_number"], members[-1]["member_number"]
            for statement in _derived_inserts(tenant, first, last, now, audit):
                result = session.execute(statement.execution_options(preserve_rowcount=True))
                if result.rowcount != len(members):
                    raise RuntimeError("the member numbers of a batch were not consecutive")
            identity_index.send_entries(tenant.id, [  # the hub's duplicate detection
                (m["national_id_hash"], identity_index.is_active(m["status"])) for m in members])
            done += len(members)
            on_batch(done)
    return numbers


def _derived_inserts(tenant: Tenant, first: str, last: str, now: dt.datetime,
                     audit: dict[str, Any]) -> list[sa.Insert]:
    """The first stage, status and org entries and the audit entry of members first..last.

    Their numbers are consecutive and were allocated under the tenant's lock, so no other
    member has one in between. The stage began on its own date when the file gives it, else
    today. The audit entry's `after` is the automatic audit's snapshot (AUDIT_FIELDS) as JSON.
    """
    members = _table(Member)
    new = sa.and_(members.c.tenant_id == tenant.id,
                  members.c.member_number.between(first, last))
    since = sa.func.coalesce(
        sa.case(*((members.c.stage == stage.name, members.c[field])
                  for stage, field in _STAGE_DATE.items())),
        sa.literal(dt.date.today(), sa.Date))
    common = [members.c.tenant_id, members.c.id, since, sa.literal(now, UTCDateTime())]
    imported = sa.literal("imported")
    entries = _table(AuditEntry)
    literal = {key: sa.literal(audit[key], entries.c[key].type)
               for key in ("at", "actor_account_id", "actor", "action", "entity_type", "before",
                           "remote_addr")}
    return [
        sa.insert(_table(StageChange)).from_select(
            ["tenant_id", "member_id", "effective_on", "recorded_at", "to_stage", "note"],
            sa.select(*common, members.c.stage, imported).where(new)),
        sa.insert(_table(StatusChange)).from_select(
            ["tenant_id", "member_id", "effective_on", "recorded_at", "to_status", "reason"],
            sa.select(*common, members.c.status, imported).where(new)),
        sa.insert(_table(OrgChange)).from_select(
            ["tenant_id", "member_id", "effective_on", "recorded_at", "to_org_id", "reason"],
            sa.select(*common, members.c.org_id, imported).where(new)),
        sa.insert(entries).from_select(
            ["tenant_id", "entity_id", "scope_code", "after", *literal],
            sa.select(members.c.tenant_id, members.c.id, members.c.org_code,
                      _snapshot_json(members), *literal.values()).where(new)),
    ]


def _snapshot_json(members: sa.Table) -> sa.ColumnElement[Any]:
    """JSON of AUDIT_FIELDS built by the database: dates as YYYY-MM-DD, enums as stored (by
    name, which is their value), so it equals the automatic audit's `jsonable` snapshot."""
    postgres = db.session().get_bind().dialect.name == "postgresql"
    pairs: list[Any] = []
    for key in AUDIT_FIELDS:
        column: Any = members.c[key]
        if postgres and isinstance(column.type, sa.Date):
            column = sa.func.to_char(column, "YYYY-MM-DD")
        pairs += [sa.literal(key), column]
    build = sa.func.json_build_object if postgres else sa.func.json_object
    return sa.type_coerce(build(*pairs), sa.JSON)


def _member_values(row: _Row, number: str, tenant_id: int, cipher: Any,
                   now: dt.datetime) -> dict[str, Any]:
    national_id, org = row.national_id, row.org
    assert national_id is not None and org is not None and row.digest is not None
    return {
        "tenant_id": tenant_id, "member_number": number, "org_id": org.id, "org_code": org.code,
        "name": row.name, "gender": Gender(nid.gender(national_id)),
        "birth_date": nid.birth_date(national_id), "ethnicity": row.ethnicity,
        "education": row.education, "national_id_cipher": cipher.encrypt(national_id),
        "national_id_hash": row.digest, "national_id_masked": nid.mask_national_id(national_id),
        "stage": row.stage, "status": Status.active, "applied_on": row.applied_on,
        "admitted_on": row.admitted_on, "full_on": row.full_on, "phone": row.phone,
        "email": row.email, "address": row.address, "work_unit": row.work_unit,
        "occupation": row.occupation, "created_at": now, "updated_at": now,
    }


def _common_org_code(codes: Iterable[str], tenant: Tenant) -> str:
    """The deepest org code above all the imported members: the summary's audit scope."""
    ordered = sorted(set(codes))
    first, last = ordered[0], ordered[-1]  # what they share, all the codes between share
    size = next((i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b),
                min(len(first), len(last)))
    prefix = first[:size]
    root = len(tenant.code_prefix)
    if len(prefix) <= root:
        return tenant.code_prefix
    return prefix[:root + (len(prefix) - root) // SEGMENT_WIDTH * SEGMENT_WIDTH]
