from __future__ import annotations

import pytest

from screening.referral import (
    REFER,
    RESCREEN,
    RETAKE,
    SEED_MESSAGE,
    EyeResult,
    recommendation,
    referral,
    seed_warning,
)


def test_the_seed_message_is_the_originals_word_for_word() -> None:
    assert SEED_MESSAGE == (
        "We hope that you will see a specialized ophthalmologist due to the inability of the model to extract "
        "sufficient information"
    )


@pytest.mark.parametrize(
    ("right", "left", "warns"),
    [
        (0.9, 0.8001, True),  # difference 0.0999
        (0.9, 0.8, False),  # difference 0.1 exactly (0.09999999999999998 in binary): not under 0.1
        (0.9, 0.7999, False),  # difference 0.1001
        (0.8001, 0.9, True),  # the rule is symmetric
        (0.8, 0.9, False),
        (0.7999, 0.9, False),
        (0.5, 0.5, True),
    ],
)
def test_the_seed_rule_fires_strictly_under_the_threshold(right: float, left: float, warns: bool) -> None:
    assert seed_warning(right, left, 0.1) is warns


def test_the_threshold_is_a_parameter() -> None:
    assert seed_warning(0.9, 0.75, 0.2) is True
    assert seed_warning(0.9, 0.75, 0.1) is False


def _eye(grade: int | None, gradable: bool | None = True, score: float | None = 0.9) -> EyeResult:
    return EyeResult(grade=grade, score=score if grade is not None else None, gradable=gradable)


@pytest.mark.parametrize(
    ("right", "left", "expected"),
    [
        (0, 0, RESCREEN),
        (1, 0, REFER),
        (0, 1, REFER),
        (2, 0, REFER),
        (0, 2, REFER),
        (2, 1, REFER),
    ],
)
def test_recommendation_refers_when_either_eye_is_mild_or_worse(right: int, left: int, expected: str) -> None:
    assert recommendation(_eye(right), _eye(left)) == expected


@pytest.mark.parametrize(("right_ok", "left_ok"), [(False, True), (True, False), (False, False)])
def test_an_ungradable_photograph_means_retake_whatever_the_grades(right_ok: bool, left_ok: bool) -> None:
    assert recommendation(_eye(0, right_ok), _eye(0, left_ok)) == RETAKE
    assert recommendation(_eye(2, right_ok), _eye(2, left_ok)) == RETAKE
    # Known at upload, before any grade: the operator is told to retake at once.
    assert recommendation(_eye(None, right_ok), _eye(None, left_ok)) == RETAKE


def test_nothing_is_recommended_before_grading() -> None:
    result = referral(_eye(None), _eye(None), 0.1)
    assert result == {"warning": False, "message": None, "recommendation": None}


def test_referral_combines_the_warning_and_the_recommendation() -> None:
    result = referral(_eye(1, score=0.62), _eye(0, score=0.58), 0.1)
    assert result == {"warning": True, "message": SEED_MESSAGE, "recommendation": REFER}
    result = referral(_eye(0, score=0.95), _eye(0, score=0.55), 0.1)
    assert result == {"warning": False, "message": None, "recommendation": RESCREEN}
