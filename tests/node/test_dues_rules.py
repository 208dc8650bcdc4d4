"""The 2008 dues rules, table-driven: every category and every bracket edge, each row citing
the rule it checks (中组部《关于中国共产党党费收缴、使用和管理的规定》, 2008; sources as in
../shared/design/DOMAIN-RESEARCH.md §2.1)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from node.dues.rules import (
    BASED_CATEGORIES,
    CPC_2008,
    DuesCategory,
    NoRules,
    monthly_amount,
    rules_for,
)

ART_2 = "2008 rules Art. 2: salaried, monthly fixed pay after tax; ≤3000 0.5%, 3000–5000 " \
        "(incl.) 1%, 5000–10000 (incl.) 1.5%, >10000 2% " \
        "(https://w.sf024.com/info/923586000291194779.html; https://miniwenda.com/life/173866.html)"
ART_3 = "2008 rules Art. 3: annual-salary staff, the month's actual pay, same brackets " \
        "(https://w.sf024.com/info/923586000291194779.html)"
ART_4 = "2008 rules Art. 4: no monthly pay, last quarter's average monthly net income, same " \
        "brackets (https://w.sf024.com/info/923586000291194779.html)"
RETIREES = "2008 rules: retirees, the pension; ≤5000 (incl.) 0.5%, >5000 1% " \
           "(https://www.baohanwang.com.cn/a/209652.html)"
ART_6_FARMERS = "2008 rules Art. 6: farmers 0.2–1 yuan a month, the province sets it " \
                "(https://www.quwen13.com/answer/229241.html)"
ART_6_FLAT = "2008 rules Art. 6: students, unemployed, on relief or subsistence allowance " \
             "(低保) 0.2 yuan a month (https://www.quwen13.com/answer/229241.html)"
HARDSHIP = "2008 rules: hardship, pay less or nothing with the higher committee's approval " \
           "(https://sflyyp.com/html/28232127862.html)"

S, A, E, R = (DuesCategory.salaried, DuesCategory.annual_salary, DuesCategory.self_employed,
              DuesCategory.retiree)

#: (category, declared base in yuan or None, monthly dues in yuan, source)
CASES = [
    # salaried: every bracket edge, inclusive upper bounds
    (S, "0", "0.00", ART_2),
    (S, "2000", "10.00", ART_2),
    (S, "3000", "15.00", ART_2),  # ≤3000: 0.5%
    (S, "3000.01", "30.00", ART_2),  # >3000: 1% (30.0001, rounded to the fen)
    (S, "5000", "50.00", ART_2),  # ≤5000: 1%
    (S, "5000.01", "75.00", ART_2),  # >5000: 1.5% (75.00015)
    (S, "10000", "150.00", ART_2),  # ≤10000: 1.5%
    (S, "10000.01", "200.00", ART_2),  # >10000: 2% (200.0002)
    (S, "25000", "500.00", ART_2),
    (S, "4321.50", "43.22", ART_2),  # 43.215, half up
    # annual salary and self-employed: the same brackets
    (A, "3000", "15.00", ART_3),
    (A, "3000.01", "30.00", ART_3),
    (A, "10000.01", "200.00", ART_3),
    (E, "5000", "50.00", ART_4),
    (E, "5000.01", "75.00", ART_4),
    (E, "10000", "150.00", ART_4),
    # retirees: two brackets on the pension
    (R, "3000", "15.00", RETIREES),
    (R, "5000", "25.00", RETIREES),  # ≤5000: 0.5%
    (R, "5000.01", "50.00", RETIREES),  # >5000: 1% (50.0001)
    (R, "12000", "120.00", RETIREES),
    # flat amounts, whatever the base
    (DuesCategory.farmer, None, "0.20", ART_6_FARMERS),
    (DuesCategory.student, None, "0.20", ART_6_FLAT),
    (DuesCategory.unemployed, None, "0.20", ART_6_FLAT),
    (DuesCategory.exempt, None, "0.00", HARDSHIP),
]


@pytest.mark.parametrize(("category", "base", "expected", "source"), CASES,
                         ids=[f"{c.value}-{b}" for c, b, _, _ in CASES])
def test_the_2008_rules(category: DuesCategory, base: str | None, expected: str,
                        source: str) -> None:
    amount = monthly_amount(CPC_2008, category, Decimal(base) if base is not None else None)
    assert isinstance(amount, Decimal)
    assert amount == Decimal(expected), source
    assert amount.as_tuple().exponent == -2  # yuan with two decimals


def test_every_category_is_in_the_table() -> None:
    assert {case[0] for case in CASES} == set(DuesCategory)
    assert all(case[3] for case in CASES)


@pytest.mark.parametrize("amount", ["0.20", "0.50", "1.00"])
def test_the_province_sets_the_farmers_amount_within_the_range(amount: str) -> None:
    assert monthly_amount(CPC_2008, DuesCategory.farmer, None,
                          farmer_amount=Decimal(amount)) == Decimal(amount)


@pytest.mark.parametrize("amount", ["0.19", "1.01"])
def test_a_farmers_amount_outside_the_range_is_refused(amount: str) -> None:
    with pytest.raises(ValueError, match="between"):
        monthly_amount(CPC_2008, DuesCategory.farmer, None, farmer_amount=Decimal(amount))


@pytest.mark.parametrize("category", sorted(BASED_CATEGORIES))
@pytest.mark.parametrize("base", [None, "-0.01"])
def test_a_based_category_needs_a_base_of_at_least_zero(category: DuesCategory,
                                                        base: str | None) -> None:
    with pytest.raises(ValueError, match="base"):
        monthly_amount(CPC_2008, category, Decimal(base) if base else None)


def test_the_rules_apply_from_april_2008() -> None:
    assert rules_for(dt.date(2008, 4, 1)) is CPC_2008
    assert rules_for(dt.date(2026, 11, 1)).version == "cpc-2008"
    with pytest.raises(NoRules):
        rules_for(dt.date(2008, 3, 1))


def test_the_national_figures() -> None:
    """Art. 11 (large dues ≥1000 yuan) and Art. 12 (back-pay normally ≤6 months)
    (https://sflyyp.com/html/28232127862.html; http://uianet.net/dictionary/b6122672.html)."""
    assert CPC_2008.large_dues_threshold == Decimal("1000")
    assert CPC_2008.backpay_months == 6
