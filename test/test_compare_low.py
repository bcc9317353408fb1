"""scripts/compare_low.py: the paired room-by-room comparison the model card quotes for candidate weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch


@pytest.fixture(scope="module")
def script(load_script):
    return load_script("compare_low")


def flat(metres: float):
    return lambda rgb, focal: torch.full_like(rgb[:, :1], metres)


def test_the_same_rooms_score_both_networks_and_the_sign_follows_the_better_one(script) -> None:
    """A guess far from indoor depths (9 m) is worse than 3 m on every room: B - A is positive with a standard
    error well below it, and swapping A and B flips the sign and the win count. The same network twice: 0."""
    a, b = script.paired_rel(flat(3.0), flat(9.0), 900000, 3, (160, 120))
    s = script.paired_summary(a, b)
    assert s["rooms"] == 3 and s["b_better"] == 0
    assert s["diff"] > 0 and s["diff"] > 2 * s["se"] > 0
    assert math.isclose(s["diff"], s["rel_b"] - s["rel_a"], rel_tol=1e-9)
    swapped = script.paired_summary(b, a)
    assert swapped["diff"] == pytest.approx(-s["diff"]) and swapped["b_better"] == 3
    same = script.paired_summary(a, a.copy())
    assert same["diff"] == 0 and same["se"] == 0


def test_other_seeds_and_lenses_measure_other_images(script) -> None:
    """--first-seed and --focal-scale reach side-eval's test rooms and lenses: the same guess scores differently,
    and the same arguments score the same."""
    base = script.paired_rel(flat(3.0), flat(3.0), 900000, 2, (160, 120))[0]
    test_rooms = script.paired_rel(flat(3.0), flat(3.0), 800000, 2, (160, 120))[0]
    long_lens = script.paired_rel(flat(3.0), flat(3.0), 900000, 2, (160, 120), focal_scale=1.4)[0]
    again = script.paired_rel(flat(3.0), flat(3.0), 800000, 2, (160, 120))[0]
    assert not np.array_equal(base, test_rooms) and not np.array_equal(base, long_lens)
    assert np.array_equal(test_rooms, again)


def test_bad_series_are_refused(script) -> None:
    with pytest.raises(ValueError, match="equally long"):
        script.paired_summary(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="non-empty"):
        script.paired_summary(np.zeros(0), np.zeros(0))
