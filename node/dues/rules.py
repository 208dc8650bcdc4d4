"""The dues rules as dated, versioned data (中组部《关于中国共产党党费收缴、使用和管理的规定》,
2008, in force since 2008-04-01), and the one function that prices a month.

A rule set is never edited once in use: a new national text becomes a new `RuleSet` with its
own version and effective date, and every monthly line stores the version it was priced with,
so old lines keep meaning what they meant. Money is `Decimal` yuan with two decimals,
rounded half up; floats never appear.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


class DuesCategory(enum.StrEnum):
    """How a member's monthly dues are fixed (DOMAIN-RESEARCH.md §2.1)."""

    salaried = "salaried"  # 在职: monthly fixed pay after tax
    annual_salary = "annual_salary"  # 年薪制: the month's actual pay
    self_employed = "self_employed"  # 不按月取得收入: last quarter's average monthly net income
    retiree = "retiree"  # 离退休: the pension
    farmer = "farmer"  # 农民: a flat amount the province sets (0.2-1 yuan)
    student = "student"  # 学生: 0.2 yuan
    unemployed = "unemployed"  # 下岗失业, 依靠救济或低保: 0.2 yuan
    exempt = "exempt"  # 经批准免交 (e.g. hardship): nothing


#: Categories priced as a percentage of a declared monthly base.
BASED_CATEGORIES = frozenset({DuesCategory.salaried, DuesCategory.annual_salary,
                              DuesCategory.self_employed, DuesCategory.retiree})


@dataclasses.dataclass(frozen=True)
class Bracket:
    """`rate` applies to a base up to and including `up_to` (None: no upper bound)."""

    up_to: Decimal | None
    rate: Decimal


@dataclasses.dataclass(frozen=True)
class RuleSet:
    version: str
    effective_from: dt.date
    title: str
    #: Salaried, annual-salary and self-employed members (Art. 2-4).
    wage_brackets: tuple[Bracket, ...]
    #: Retirees, on the pension.
    retiree_brackets: tuple[Bracket, ...]
    #: Flat monthly amounts (Art. 6); the farmer amount is a per-tenant setting in this range.
    farmer_range: tuple[Decimal, Decimal]
    flat: dict[DuesCategory, Decimal]
    #: A voluntary one-off payment of at least this much is "large dues" (Art. 11).
    large_dues_threshold: Decimal
    #: Back-pay is "normally at most" this many months (Art. 12).
    backpay_months: int


CPC_2008 = RuleSet(
    version="cpc-2008",
    effective_from=dt.date(2008, 4, 1),
    title="关于中国共产党党费收缴、使用和管理的规定 (2008)",
    wage_brackets=(Bracket(Decimal("3000"), Decimal("0.005")),
                   Bracket(Decimal("5000"), Decimal("0.01")),
                   Bracket(Decimal("10000"), Decimal("0.015")),
                   Bracket(None, Decimal("0.02"))),
    retiree_brackets=(Bracket(Decimal("5000"), Decimal("0.005")),
                      Bracket(None, Decimal("0.01"))),
    farmer_range=(Decimal("0.20"), Decimal("1.00")),
    flat={DuesCategory.student: Decimal("0.20"), DuesCategory.unemployed: Decimal("0.20"),
          DuesCategory.exempt: Decimal("0.00")},
    large_dues_threshold=Decimal("1000"),
    backpay_months=6,
)

#: Every rule set, oldest first. Add new ones at the end; never change a published one.
RULE_SETS: tuple[RuleSet, ...] = (CPC_2008,)
BY_VERSION = {rules.version: rules for rules in RULE_SETS}


class NoRules(ValueError):
    """A month before the first rule set."""


def rules_for(month: dt.date) -> RuleSet:
    """The rule set in force in `month` (the latest that began on or before it)."""
    usable = [rules for rules in RULE_SETS if rules.effective_from <= month]
    if not usable:
        raise NoRules(f"no dues rules before {RULE_SETS[0].effective_from.isoformat()}")
    return usable[-1]


def money(value: Decimal) -> Decimal:
    """Yuan with two decimals, rounded half up."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def rate_for(brackets: tuple[Bracket, ...], base: Decimal) -> Decimal:
    for bracket in brackets:
        if bracket.up_to is None or base <= bracket.up_to:
            return bracket.rate
    raise AssertionError("the last bracket has no upper bound")


def monthly_amount(rules: RuleSet, category: DuesCategory, base: Decimal | None, *,
                   farmer_amount: Decimal | None = None) -> Decimal:
    """The monthly dues of one member: a bracket's rate times the base, or a flat amount.

    `base` is the declared monthly base in yuan (required, and at least 0, for the based
    categories; ignored otherwise). `farmer_amount` is the tenant's figure for farmers,
    inside the rule set's range (default: its lower end).
    """
    if category in BASED_CATEGORIES:
        if base is None or base < 0:
            raise ValueError("a declared monthly base of at least 0 is required")
        brackets = rules.retiree_brackets if category == DuesCategory.retiree \
            else rules.wage_brackets
        return money(base * rate_for(brackets, base))
    if category == DuesCategory.farmer:
        low, high = rules.farmer_range
        amount = low if farmer_amount is None else farmer_amount
        if not low <= amount <= high:
            raise ValueError(f"the farmers' amount must lie between {low} and {high} yuan")
        return money(amount)
    return money(rules.flat[category])
