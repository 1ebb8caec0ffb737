"""legacy shop."Authors" -> public.authors, in Python (componentize-py).

Skips a soft-deleted author ("DeletedAt" set: its books and their orders are skipped with it),
rejects one without a "FullName", trims the name and turns blank e-mails and bios into NULL;
the shop's local "CreatedAt" gets the shop's time zone.

Built by examples/bookshop/build.sh (`host plugin build`); fixtures: fixtures.toml here.
"""

from typing import List, Optional

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
    Value_Text,
    Value_Timestamptz,
    Value_Uuid,
)

SHOP_TIME_ZONE = "Europe/Paris"
READS = ["AuthorId", "FullName", "Email", "Country", "Bio", "CreatedAt", "DeletedAt"]
COLUMNS = ["id", "legacy_id", "full_name", "email", "country", "bio", "created_at"]


def text(value: Value) -> Optional[str]:
    """The text of a value, None for NULL."""
    return None if isinstance(value, Value_Null) else value.value


def trimmed(value: Value) -> Value:
    """Text without surrounding blanks; blank text becomes NULL."""
    t = text(value)
    t = t.strip() if t is not None else None
    return Value_Text(t) if t else Value_Null()


def local_time(value: Value) -> Value:
    t = text(value)
    return Value_Null() if t is None else Value_Timestamptz(f"{t} {SHOP_TIME_ZONE}")


def transform_row(values: List[Value]) -> Outcome:
    row = dict(zip(READS, values))
    key = row["AuthorId"].value
    if not isinstance(row["DeletedAt"], Value_Null):
        return Outcome_Skip("soft-deleted author (DeletedAt is set)")
    name = trimmed(row["FullName"])
    if isinstance(name, Value_Null):
        return Outcome_Reject("required column FullName is NULL or blank")
    return Outcome_Write(
        [
            TargetRow(
                "authors",
                [
                    Value_Uuid(ids.mint("Authors", key)),
                    Value_Int(key),
                    name,
                    trimmed(row["Email"]),
                    row["Country"],
                    trimmed(row["Bio"]),
                    local_time(row["CreatedAt"]),
                ],
            )
        ]
    )


class WitWorld(wit_world.WitWorld):
    def describe(self) -> Description:
        return Description("Authors", READS, [TargetColumns("authors", COLUMNS)], [])

    def transform(self, rows: List[List[Value]]) -> List[Outcome]:
        return [transform_row(values) for values in rows]
