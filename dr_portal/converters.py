"""URL converters: where ids enter the portal."""

from __future__ import annotations

# The largest id the database stores: BigAutoField (PostgreSQL bigint) and SQLite's INTEGER are 64-bit signed.
MAX_ID = 2**63 - 1


class IdConverter:
    """A database id in a URL (`<id:patient_id>`): Django's `<int:...>` bounded to what the database stores.

    A larger number is no id of anything, so it matches no route and answers 404 like a missing id; as
    `<int:...>` it reached the selectors, where SQLite raised OverflowError (a 500, with DEBUG on the
    debug page). At most 19 digits, so that no longer string is even converted."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ID:
            raise ValueError(f"{value} is beyond the largest id")  # Django reads ValueError as "no match"
        return number

    def to_url(self, value: int) -> str:
        if not 0 <= int(value) <= MAX_ID:
            raise ValueError(f"{value} is no id")
        return str(value)
