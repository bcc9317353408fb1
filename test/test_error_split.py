"""scripts/measure_error_split.py: the scale / shape / resolution split the model card quotes."""

from __future__ import annotations

import math

import pytest
import torch


@pytest.fixture(scope="module")
def split(load_script):
    return load_script("measure_error_split").error_split


def test_scale_corrected_errors_ignore_a_global_factor_and_the_floor_is_the_working_size(split) -> None:
    """A flat 2 m guess: its error is mostly shape; times 3 only the uncorrected REL changes, and the per-image
    factor undoes any constant. The floor shrinks with a larger working size and does not depend on the guess."""
    flat = split(lambda rgb, focal: torch.full_like(rgb[:, :1], 2.0), (24, 32), rooms=3, size=(160, 120))
    tripled = split(lambda rgb, focal: torch.full_like(rgb[:, :1], 6.0), (24, 32), rooms=3, size=(160, 120))
    finer = split(lambda rgb, focal: torch.full_like(rgb[:, :1], 2.0), (96, 128), rooms=3, size=(160, 120))
    assert tripled["rel"] > flat["rel"]
    assert math.isclose(tripled["rel_own"], flat["rel_own"], rel_tol=1e-5)
    assert math.isclose(tripled["rel_global"], flat["rel_global"], rel_tol=1e-5)
    assert math.isclose(tripled["global_factor"] * 3, flat["global_factor"], rel_tol=1e-5)
    assert flat["rel_own"] <= flat["rel"] and flat["rel_own"] > 0.05  # a flat map has real shape error
    assert 0 < finer["floor"] < flat["floor"] < 0.1
    assert flat["floor"] == tripled["floor"]


def test_first_seed_picks_other_rooms(split) -> None:
    """--first-seed 0 measures training rooms instead of validation rooms: the same guess scores differently."""
    val = split(lambda rgb, focal: torch.full_like(rgb[:, :1], 2.0), (24, 32), rooms=2, size=(160, 120))
    train = split(lambda rgb, focal: torch.full_like(rgb[:, :1], 2.0), (24, 32), 2, (160, 120), first_seed=0)
    again = split(lambda rgb, focal: torch.full_like(rgb[:, :1], 2.0), (24, 32), 2, (160, 120), first_seed=0)
    assert train["rel"] != val["rel"] and train["floor"] != val["floor"]
    assert train == again
