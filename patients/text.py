"""What a record number or a name may hold: rules for text that a person reads off a screen."""

from __future__ import annotations

import unicodedata

# Characters no one can see, pasted in with a record number from another system (a zero-width space, a
# byte-order mark, a soft hyphen): "QA\u200b-7" and "QA-7" look the same on every page but are two
# record numbers, so the clinic would hold two records of one patient. A record number needs none.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
# In names only the controls and the bidirectional overrides, embeddings and isolates are refused: they
# make a page show other letters than those stored ("\u202eevil" reads "live"). Other format characters
# belong to names (the zero-width non-joiner of Persian and Indic scripts).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


# Dashes other than the hyphen-minus, as a word processor or another system writes them: "T\u2010116" and
# "T-116" look alike on a page but would be two record numbers.
MINUS_SIGN = "\u2212"


def normalised_identifier(value: str) -> str:
    """A record number as stored: compatibility forms folded (NFKC: full-width letters are plain ones, a
    letter and its combining accent one character), every dash a hyphen-minus, outer spaces gone. Two
    record numbers that read the same are then the same string, and the duplicate check sees them."""
    folded = unicodedata.normalize("NFKC", value)
    return "".join("-" if unicodedata.category(c) == "Pd" or c == MINUS_SIGN else c for c in folded).strip()


def normalised_name(value: str) -> str:
    """A name as stored: composed (NFC, "E" + combining acute is "É"), outer spaces gone. Not NFKC: a
    name keeps the characters it was typed with."""
    return unicodedata.normalize("NFC", value).strip()


def _message(bad: list[str]) -> str | None:
    if not bad:
        return None
    return f"Contains a character that does not show (U+{ord(bad[0]):04X}), probably pasted in with it: type it again."


def identifier_problem(value: str) -> str | None:
    """Why a record number cannot be stored as typed, or None."""
    return _message([c for c in value if unicodedata.category(c) in INVISIBLE_CATEGORIES])


def name_problem(value: str) -> str | None:
    """Why a name cannot be stored as typed, or None."""
    problem = _message([c for c in value if c in BIDI_CONTROLS or unicodedata.category(c) in {"Cc", "Zl", "Zp"}])
    if problem is None and value and not any(unicodedata.category(c)[0] in "LNPS" for c in value):
        # Only spaces and zero-width characters: stored, it shows as a blank name on every page.
        return "Has no letter that shows: type the name again."
    return problem
