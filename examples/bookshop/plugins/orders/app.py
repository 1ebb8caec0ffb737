"""legacy shop."Orders" -> public.orders, in Python (componentize-py).

Resolves the book (an order of a skipped book is skipped with it, one of a book that was never
migrated is rejected as an orphan), turns a blank "CustomerEmail" into NULL and computes the
order's total exactly (Decimal, never a float); the shop's local "OrderedAt" gets its zone.

Built by examples/bookshop/build.sh (`host plugin build`); fixtures: fixtures.toml here.
"""

from decimal import Decimal
from typing import List

import wit_world
from wit_world.imports import ids
from wit_world.imports.types import (
    Description,
    Outcome,
    Outcome_Reject,
    Outcome_Skip,
    Outcome_Write,
    TargetColumns,
    TargetRow,
    Value,
    Value_Int,
    Value_Null,
    Value_Numeric,
    Value_Text,
    Value_Timestamptz,
    Value_Uuid,
)

SHOP_TIME_ZONE = "Europe/Paris"
READS = ["OrderId", "BookId", "CustomerEmail", "Quantity", "UnitPrice", "OrderedAt"]
COLUMNS = [
    "id", "legacy_id", "book_id", "customer_email", "quantity", "unit_price", "total", "ordered_at",
]


class Fate(Exception):
    """A row that is not written: `outcome` is its skip or reject."""

    def __init__(self, outcome: Outcome):
        self.outcome = outcome


def resolve_book(value: Value) -> str:
    if isinstance(value, Value_Null):
        raise Fate(Outcome_Reject("required column BookId is NULL"))
    book = value.value
    found = ids.resolve("Books", book)
    if found is not None:
        return found
    reason = ids.skipped("Books", book)
    if reason is not None:
        raise Fate(Outcome_Skip(f"BookId={book}: that book was skipped ({reason})"))
    raise Fate(Outcome_Reject(
        f"orphan: BookId={book} has no migrated row in Books (missing in the legacy data, or quarantined)"
    ))


def transform_row(values: List[Value]) -> Outcome:
    row = dict(zip(READS, values))
    key = row["OrderId"].value
    book = resolve_book(row["BookId"])
    email = row["CustomerEmail"]
    email = email.value.strip() if isinstance(email, Value_Text) else ""
    quantity = row["Quantity"].value
    unit_price = Decimal(row["UnitPrice"].value)
    return Outcome_Write(
        [
            TargetRow(
                "orders",
                [
                    Value_Uuid(ids.mint("Orders", key)),
                    Value_Int(key),
                    Value_Uuid(book),
                    Value_Text(email) if email else Value_Null(),
                    Value_Int(quantity),
                    Value_Numeric(str(unit_price)),
                    Value_Numeric(str(unit_price * quantity)),
                    Value_Timestamptz(f"{row['OrderedAt'].value} {SHOP_TIME_ZONE}"),
                ],
            )
        ]
    )


class WitWorld(wit_world.WitWorld):
    def describe(self) -> Description:
        return Description("Orders", READS, [TargetColumns("orders", COLUMNS)], ["Books"])

    def transform(self, rows: List[List[Value]]) -> List[Outcome]:
        outcomes = []
        for values in rows:
            try:
                outcomes.append(transform_row(values))
            except Fate as fate:
                outcomes.append(fate.outcome)
        return outcomes
