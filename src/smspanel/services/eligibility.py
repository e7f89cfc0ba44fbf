"""Which numbers of a send get an SMS, and why the others are skipped: the one rule that
every send (web, file, API, personalised), its preview and the claim apply.

A number is skipped, with the first reason that applies:
1. `opted_out`: it is on the opt-out register (UEMO s.9-10), for every send;
2. `dnc_register`: the send is commercial and it is on the active copy of OFCA's
   do-not-call register (s.11);
3. its class in Hong Kong's numbering plan (`numbering.py`): `fixed_line`, `pager` or
   `not_mobile`, unless the policy sends to every number (`SMS_SKIP_NON_MOBILE=false`).
Numbers the plan does not know are sent, with a warning. The registers are asked in the
database, set-based, never number by number in Python: at accept time one statement per
register joins the send's numbers (passed as one value) with the register's key, and
again when a recipient is claimed, so a number opted out after a scheduled send was
accepted is still not sent.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    exists,
    literal,
    null,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from smspanel.config import DEFAULT_UNSUBSCRIBE_TEXT
from smspanel.models import (
    DncImport,
    DncImportStatus,
    DncNumber,
    OptOut,
    Recipient,
    RecipientStatus,
    SkipReason,
)
from smspanel.services.message_status import CountChange, adjust_message_counts
from smspanel.services.numbering import SKIPPED_CLASSES, NumberClass, classify
from smspanel.services.phone import normalize_phone
from smspanel.services.webhooks import outbox
from smspanel.services.wording import _, ngettext

# Precedence, and the order reasons are listed in.
REASON_ORDER = (
    SkipReason.OPTED_OUT,
    SkipReason.DNC_REGISTER,
    SkipReason.FIXED_LINE,
    SkipReason.PAGER,
    SkipReason.NOT_MOBILE,
)
REGISTER_REASONS = (SkipReason.OPTED_OUT, SkipReason.DNC_REGISTER)
REASON_OF_CLASS = {
    NumberClass.FIXED_LINE: SkipReason.FIXED_LINE,
    NumberClass.PAGER: SkipReason.PAGER,
    NumberClass.NOT_MOBILE: SkipReason.NOT_MOBILE,
}
assert set(REASON_OF_CLASS) == SKIPPED_CLASSES
MAX_LISTED = 100  # skipped numbers and warnings named in an answer; the rest are counted
PREVIEW_CHUNK = 2_000  # numbers per register query of a preview


@dataclass(frozen=True)
class SendPolicy:
    """The settings a send's rules depend on, handed in by the entrypoints."""

    skip_non_mobile: bool = True
    unsubscribe_text: str = DEFAULT_UNSUBSCRIBE_TEXT

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> SendPolicy:
        return cls(
            skip_non_mobile=bool(settings.get("SMS_SKIP_NON_MOBILE", True)),
            unsubscribe_text=settings.get("UEMO_UNSUBSCRIBE_TEXT") or DEFAULT_UNSUBSCRIBE_TEXT,
        )


@dataclass(frozen=True)
class SkippedNumber:
    phone: str
    reason: str


@dataclass(frozen=True)
class Eligibility:
    """What a send does with its numbers: how many are skipped for each reason (the first
    MAX_LISTED named), and which are sent though the numbering plan does not know them."""

    total: int
    by_reason: dict[str, int] = field(default_factory=dict)  # nonzero, in REASON_ORDER
    skipped: tuple[SkippedNumber, ...] = ()
    unknown: tuple[str, ...] = ()
    unknown_count: int = 0
    # Every skipped number's reason, not only the named ones: what a preview's totals leave out.
    reason_of: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def skipped_count(self) -> int:
        return sum(self.by_reason.values())

    @property
    def deliverable_count(self) -> int:
        return self.total - self.skipped_count


class NoDeliverableRecipients(ValueError):
    """Every number of a send would be skipped: nothing was stored."""

    def __init__(self, eligibility: Eligibility) -> None:
        self.eligibility = eligibility
        super().__init__(
            ngettext(
                "no recipient is left to send to: %(num)s number is skipped (%(reasons)s)",
                "no recipient is left to send to: all %(num)s numbers are skipped (%(reasons)s)",
                eligibility.total,
                reasons=reason_counts(eligibility),
            )
        )


# --- classification, in Python (the numbers are in hand) -------------------------------------


def class_reasons(
    phones: Iterable[str], policy: SendPolicy
) -> tuple[dict[str, SkipReason], list[str]]:
    """The numbers their class skips (with the reason), and those the plan does not know."""
    skipped: dict[str, SkipReason] = {}
    unknown: list[str] = []
    for phone in phones:
        number_class = classify(phone)
        if number_class is NumberClass.UNKNOWN:
            unknown.append(phone)
        elif policy.skip_non_mobile and number_class in SKIPPED_CLASSES:
            skipped[phone] = REASON_OF_CLASS[number_class]
    return skipped, unknown


def summarise(
    phones: Sequence[str],
    by_class: Mapping[str, str],
    by_register: Mapping[str, str],
    unknown: Sequence[str],
) -> Eligibility:
    """The outcome over `phones` (distinct, in the order given): a register's reason wins
    over the class's."""
    counts: Counter[str] = Counter(by_class.values())
    for phone, reason in by_register.items():
        earlier = by_class.get(phone)
        if earlier is not None:
            counts[earlier] -= 1
        counts[reason] += 1
    listed: list[SkippedNumber] = []
    if counts.total():
        for phone in phones:
            final = by_register.get(phone) or by_class.get(phone)
            if final is not None:
                listed.append(SkippedNumber(phone, final))
                if len(listed) == MAX_LISTED:
                    break
    warned = [phone for phone in unknown if phone not in by_register] if by_register else unknown
    return Eligibility(
        total=len(phones),
        by_reason={reason: counts[reason] for reason in REASON_ORDER if counts[reason]},
        skipped=tuple(listed),
        unknown=tuple(warned[:MAX_LISTED]),
        unknown_count=len(warned),
        reason_of={**by_class, **by_register},
    )


# --- the registers, in the database -----------------------------------------------------------


def opted_out_clause(phone: ColumnElement[str]) -> ColumnElement[bool]:
    """True where `phone` is on the opt-out register now."""
    return exists().where(OptOut.phone == phone)


def dnc_register_clause(phone: ColumnElement[str]) -> ColumnElement[bool]:
    """True where `phone` is on the active copy of the do-not-call register."""
    return exists().where(
        DncNumber.import_id == DncImport.id,
        DncImport.status == DncImportStatus.ACTIVE,
        DncNumber.phone == phone,
    )


def active_dnc_import(session: Session) -> int | None:
    """The id of the register's active copy, if one was imported."""
    return session.scalar(
        select(DncImport.id).where(DncImport.status == DncImportStatus.ACTIVE).limit(1)
    )


def registered_numbers(session: Session, phones: Sequence[str], commercial: bool) -> dict[str, str]:
    """Which of a send's numbers (distinct) a register stops now, with the reason
    (`opted_out` first): one statement per register, the numbers joined in the database."""
    found: dict[str, str] = dict.fromkeys(
        _registered(session, phones, "opt_outs", None), SkipReason.OPTED_OUT.value
    )
    active = active_dnc_import(session) if commercial else None
    if active is not None:
        for phone in _registered(session, phones, "dnc_numbers", active):
            found.setdefault(phone, SkipReason.DNC_REGISTER.value)
    return found


def register_skip_reason(phone: Any, commercial: Any) -> ColumnElement[Any]:
    """For a claim: the register reason that now stops `phone`, or NULL."""
    return case(
        (opted_out_clause(phone), literal(SkipReason.OPTED_OUT.value)),
        (and_(commercial, dnc_register_clause(phone)), literal(SkipReason.DNC_REGISTER.value)),
        else_=null(),
    )


def skip_claimed_in_transaction(
    session: Session, worker_id: str, recipients: Sequence[tuple[int, int, str]], now: datetime
) -> int:
    """Skip these claimed (recipient id, message id, reason) instead of sending them, with
    their messages' counts and status, as a cancel does."""
    if not recipients:
        return 0
    table = Recipient.__table__
    by_reason: dict[str, list[int]] = {}
    for recipient_id, _message_id, reason in recipients:
        by_reason.setdefault(reason, []).append(recipient_id)
    for reason, ids in sorted(by_reason.items()):
        session.execute(
            update(table)
            .where(
                table.c.id.in_(sorted(ids)),
                table.c.claimed_by == worker_id,
                table.c.status == RecipientStatus.PENDING,
            )
            .values(
                status=RecipientStatus.SKIPPED,
                skip_reason=reason,
                claimed_by=None,
                claimed_at=None,
                updated_at=now,
            )
        )
    per_message = Counter(message_id for _id, message_id, _reason in recipients)
    skipped: dict[int, list[int]] = {}
    for recipient_id, message_id, _reason in recipients:
        skipped.setdefault(message_id, []).append(recipient_id)
    outbox.recipients_final(session, skipped)
    adjust_message_counts(
        session, {mid: CountChange(skipped=n) for mid, n in per_message.items()}, now
    )
    return len(recipients)


# --- a preview, before anything is stored -----------------------------------------------------


def check_numbers(
    session: Session, phones: Sequence[str], commercial: bool, policy: SendPolicy
) -> Eligibility:
    """What a send to `phones` (distinct, normalised) would skip now: read only, with the
    same classification and the registers queried a chunk of numbers at a time."""
    plain, as_commercial = check_numbers_both_ways(session, phones, policy, commercial)
    return as_commercial if commercial else plain


def check_numbers_both_ways(
    session: Session, phones: Sequence[str], policy: SendPolicy, commercial: bool = True
) -> tuple[Eligibility, Eligibility]:
    """The preview as a plain send and as a commercial one (the do-not-call register
    asked only when `commercial`), from one look at each register."""
    by_class, unknown = class_reasons(phones, policy)
    both = registered_numbers(session, phones, commercial)
    opted_out = {p: r for p, r in both.items() if r == SkipReason.OPTED_OUT}
    plain = summarise(phones, by_class, opted_out, unknown)
    if len(opted_out) == len(both):
        return plain, plain
    return plain, summarise(phones, by_class, both, unknown)


# The numbers go to the database as one value (a JSON array, or an array on PostgreSQL) and
# are joined there with the register's key: 100,000 numbers as bound parameters of IN
# lists cost seconds in the driver, as one value a tenth of that. On PostgreSQL the
# do-not-call register is probed number by number (LATERAL): a plain join hashes all its
# 2,000,000 numbers (3 s, not 0.8); the opt-out register is small enough to hash.
_NUMBERS_AS_ROWS = {
    # CROSS JOIN: SQLite then keeps the numbers as the outer loop whatever its statistics
    # say. A connection opened before a register import (its ANALYZE runs in the loader's
    # process) otherwise scanned the whole copy once per number: minutes for a large send.
    "sqlite": "SELECT j.value FROM json_each(:phones) AS j CROSS JOIN {table} r "
    "ON r.phone = j.value",
    "postgresql": "SELECT p.phone FROM unnest(CAST(:phones AS varchar[])) AS p(phone) "
    "JOIN {table} r ON r.phone = p.phone",
    "mysql": "SELECT j.phone FROM JSON_TABLE(:phones, '$[*]' COLUMNS "
    "(phone VARCHAR(8) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$')) AS j "
    "JOIN {table} r ON r.phone = j.phone",
}
_NUMBERS_AS_ROWS["mariadb"] = _NUMBERS_AS_ROWS["mysql"]
_PROBED_ON_POSTGRESQL = (
    "SELECT p.phone FROM unnest(CAST(:phones AS varchar[])) AS p(phone) CROSS JOIN LATERAL "
    "(SELECT 1 FROM {table} r WHERE r.phone = p.phone AND r.import_id = :import_id LIMIT 1) "
    "AS hit"
)


def register_query(dialect: str, table: str, import_id: int | None) -> str:
    """The look-up of a send's numbers (`:phones`) in one register, for a database that
    takes the numbers as one value."""
    if dialect == "postgresql" and import_id is not None:
        return _PROBED_ON_POSTGRESQL.format(table=table)
    sql = _NUMBERS_AS_ROWS[dialect].format(table=table)
    return sql if import_id is None else sql + " AND r.import_id = :import_id"


def _registered(
    session: Session, phones: Sequence[str], table: str, import_id: int | None
) -> set[str]:
    """Which of `phones` are in the register `table` (opt_outs, or dnc_numbers of one copy)."""
    if not phones:
        return set()
    dialect = session.get_bind().dialect.name
    query = _NUMBERS_AS_ROWS.get(dialect)
    if query is None:  # another database: the numbers a chunk at a time
        column = OptOut.phone if table == "opt_outs" else DncNumber.phone
        conditions = () if import_id is None else (DncNumber.import_id == import_id,)
        found: set[str] = set()
        for start in range(0, len(phones), PREVIEW_CHUNK):
            chunk = list(phones[start : start + PREVIEW_CHUNK])
            found.update(session.scalars(select(column).where(*conditions, column.in_(chunk))))
        return found
    sql = register_query(dialect, table, import_id)
    values = list(phones) if dialect == "postgresql" else json.dumps(list(phones))
    return set(session.scalars(text(sql), {"phones": values, "import_id": import_id}))


def check_lines(
    session: Session, recipients_text: str, commercial: bool, policy: SendPolicy
) -> tuple[Eligibility, int]:
    """The compose textarea's preview: what a send to its valid numbers would skip, and how
    many lines are not numbers at all (the send itself names them)."""
    phones: dict[str, None] = {}
    invalid = 0
    for line in recipients_text.splitlines():
        if line.strip():
            phone = normalize_phone(line)
            if phone is None:
                invalid += 1
            else:
                phones.setdefault(phone)
    return check_numbers(session, list(phones), commercial, policy), invalid


# --- words ------------------------------------------------------------------------------------


def reason_label(reason: str) -> str:
    """A skip reason as a reader sees it."""
    labels: dict[str, str] = {
        SkipReason.OPTED_OUT: _("opted out"),
        SkipReason.DNC_REGISTER: _("do-not-call register"),
        SkipReason.FIXED_LINE: _("fixed line"),
        SkipReason.PAGER: _("pager"),
        SkipReason.NOT_MOBILE: _("not a mobile number"),
    }
    return labels.get(reason, reason)


def reason_count(reason: str, count: int) -> str:
    """`2 fixed lines`, `1 opted out`."""
    if reason == SkipReason.OPTED_OUT:
        return ngettext("%(num)s opted out", "%(num)s opted out", count)
    if reason == SkipReason.DNC_REGISTER:
        return ngettext(
            "%(num)s on the do-not-call register", "%(num)s on the do-not-call register", count
        )
    if reason == SkipReason.FIXED_LINE:
        return ngettext("%(num)s fixed line", "%(num)s fixed lines", count)
    if reason == SkipReason.PAGER:
        return ngettext("%(num)s pager", "%(num)s pagers", count)
    return ngettext("%(num)s not a mobile number", "%(num)s not mobile numbers", count)


def reason_counts(eligibility: Eligibility) -> str:
    # A translator's list separator: ", " in English, "、" in Chinese.
    return _(", ").join(reason_count(r, n) for r, n in eligibility.by_reason.items())


def unknown_warning() -> str:
    """What a warning says of a number the numbering plan does not know."""
    return _("not in Hong Kong's numbering plan data; sent anyway")


def describe(eligibility: Eligibility, *, done: bool = False) -> str:
    """One sentence on what is (`done`) or will be skipped and why; empty when nothing is."""
    if not eligibility.skipped_count:
        return ""
    values = {"skipped": eligibility.skipped_count, "reasons": reason_counts(eligibility)}
    if done:
        return ngettext(
            "%(skipped)s of %(num)s number was skipped: %(reasons)s.",
            "%(skipped)s of %(num)s numbers were skipped: %(reasons)s.",
            eligibility.total,
            **values,
        )
    return ngettext(
        "%(skipped)s of %(num)s number will be skipped: %(reasons)s.",
        "%(skipped)s of %(num)s numbers will be skipped: %(reasons)s.",
        eligibility.total,
        **values,
    )


def describe_unknown(eligibility: Eligibility) -> str:
    """One sentence on the numbers sent though the plan does not know them; empty if none."""
    if not eligibility.unknown_count:
        return ""
    return ngettext(
        "%(num)s number is not in Hong Kong's numbering plan data; it is sent anyway.",
        "%(num)s numbers are not in Hong Kong's numbering plan data; they are sent anyway.",
        eligibility.unknown_count,
    )
