"""The statistics' 95% intervals (Wilson score) and small-sample notes: "100% sensitivity" from 8 eyes was
shown bare, as if 8 eyes proved the model never misses a referable eye."""

from __future__ import annotations

import pytest
from django.urls import reverse

from screening import reviews
from screening.statistics import SMALL_SAMPLE, agreement, proportion, wilson_interval
from tests.examination_data import graded_examination

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        # Newcombe (1998), Statistics in Medicine 17:857, table I, method 3 (score method without correction).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
        # The case: 8 of 8 eyes found is not "100%", it is somewhere above 68%.
        (8, 8, 0.6756, 1.0),
        (5, 10, 0.2366, 0.7634),
    ],
)
def test_the_wilson_interval_matches_published_values(successes: int, n: int, low: float, high: float) -> None:
    interval = wilson_interval(successes, n)
    assert interval is not None
    assert interval == pytest.approx((low, high), abs=5e-5)


def test_the_wilson_interval_stays_inside_0_to_1_and_contains_the_share() -> None:
    for n in (1, 2, 7, 30, 200):
        for successes in range(n + 1):
            interval = wilson_interval(successes, n)
            assert interval is not None
            low, high = interval
            assert 0.0 <= low <= successes / n <= high <= 1.0


def test_no_cases_have_no_interval_and_impossible_counts_are_refused() -> None:
    assert wilson_interval(0, 0) is None and proportion(0, 0) is None
    with pytest.raises(ValueError, match="9 successes out of 8"):
        wilson_interval(9, 8)
    with pytest.raises(ValueError):
        wilson_interval(-1, 8)


def test_a_proportion_below_30_cases_is_flagged_small() -> None:
    small, enough = proportion(8, SMALL_SAMPLE - 1), proportion(8, SMALL_SAMPLE)
    assert small is not None and enough is not None
    assert small["small"] is True and enough["small"] is False
    assert small["share"] == pytest.approx(8 / 29) and small["n"] == 29


def test_agreement_gives_each_proportion_its_interval() -> None:
    # (model, doctor): 8 referable eyes all found, 2 clear eyes of which 1 cleared.
    pairs = [(1, 1)] * 8 + [(0, 0), (1, 0)]
    figures = agreement(pairs)
    shares = figures["intervals"]
    assert shares["sensitivity"]["share"] == 1.0 and shares["sensitivity"]["n"] == 8
    assert (shares["sensitivity"]["low"], shares["sensitivity"]["high"]) == pytest.approx((0.6756, 1.0), abs=5e-5)
    assert shares["specificity"]["share"] == 0.5 and shares["specificity"]["n"] == 2
    assert shares["agreement"]["share"] == pytest.approx(0.9) and shares["agreement"]["n"] == 10
    assert all(share["small"] for share in shares.values())
    # No clear eye at all: no specificity and so no interval, not 0 of 0.
    assert agreement([(1, 1), (2, 2)])["intervals"]["specificity"] is None


def test_the_statistics_page_gives_intervals_and_says_when_samples_are_small(client, owner, colleague, patient) -> None:
    examination = graded_examination(patient=patient, grades=(1, 0), created_by=owner)
    reviews.review_create(user=colleague, examination=examination, right_grade=1, left_grade=0)
    client.force_login(colleague)
    html = client.get(reverse("screening:statistics")).content.decode()
    assert (
        '<span id="specificity">100% specificity, 95% CI 21 to 100% <span class="badge warn">small sample</span>'
        in html
    )
    assert "rests on fewer than 30 eyes" in html
    # The window's outcome shares too (1 graded examination, referred): and the note for them.
    assert '<span class="muted ci">95% CI 21 to 100%</span>' in html
    assert 'id="totals-small-sample"' in html and "1 graded examination in this period" in html
    # The honest names of the classes head the doctors-against-model table.
    assert '<th scope="col">Severe NPDR or PDR (ICDR 3-4)</th>' in html


def test_no_small_sample_note_from_30_reviewed_eyes(client, owner, colleague, patient) -> None:
    for _ in range(15):  # 30 eyes, 15 referable (right) and 15 clear (left)
        examination = graded_examination(patient=patient, grades=(1, 0), created_by=owner)
        reviews.review_create(user=colleague, examination=examination, right_grade=1, left_grade=0)
    client.force_login(colleague)
    html = client.get(reverse("screening:statistics")).content.decode()
    # Agreement rests on 30 eyes: no flag; sensitivity and specificity on 15 each: flagged.
    agreement_share = html.split('<span id="agreement-share">')[1].split("</span>;")[0]
    assert agreement_share.startswith("100%, 95% CI 89 to 100%") and "small sample" not in agreement_share
    assert html.count('<span class="badge warn">small sample</span>') == 2
    assert 'id="totals-small-sample"' in html  # 15 graded examinations
