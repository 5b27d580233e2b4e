"""SQLite's LIKE made case-insensitive for every letter, not only for A-Z.

Django's case-insensitive lookups (`iexact`, `icontains`: record numbers, usernames, the patient search)
are LIKE on SQLite, and SQLite folds ASCII letters only: in the embedded default "ÄX-1" beside "äx-1"
registered two patients, and a search for "ÅNGSTRÖM" did not find "Ångström". PostgreSQL folds all
letters already. Python's regular expressions fold them here, for each new SQLite connection.
"""

from __future__ import annotations

import functools
import re
from typing import Any


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str, escape: str | None) -> re.Pattern[str]:
    parts, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if escape and char == escape and index + 1 < len(pattern):
            parts.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        parts.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        index += 1
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def unicode_like(pattern: str | None, value: Any, escape: str | None = None) -> bool | None:
    """SQL's `value LIKE pattern [ESCAPE escape]`, folding the case of every letter; NULL in, NULL out."""
    if pattern is None or value is None:
        return None
    return _compiled(pattern, escape).fullmatch(str(value)) is not None


def register_unicode_like(sender: Any, connection: Any, **kwargs: Any) -> None:
    """connection_created receiver: replaces SQLite's like() (both forms) on each new connection."""
    if connection.vendor != "sqlite":
        return
    for arguments in (2, 3):
        connection.connection.create_function("like", arguments, unicode_like, deterministic=True)
