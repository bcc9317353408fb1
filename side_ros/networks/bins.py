"""Log-spaced depth quantization of the paper's Eq. 1 (DORN's scheme) and its inverse.

Eq. 1:  b = round((log10(x) - log10(alpha)) / q),   q = (log10(beta) - log10(alpha)) / K.

For x in [alpha, beta] the rounded level b takes the K + 1 integer values 0..K, so the
classification head predicts K + 1 levels (b_max = K = D in Eq. 2's notation).  The expected
level d = sum_j j * p_j is the paper's sum over j = 1..D (level 0 contributes nothing), and a
level maps back to metres through the inverse of Eq. 1: x = alpha * 10 ** (b * q).

Confidence: each level j stands for the unit interval [j - 1/2, j + 1/2] on the level axis; a pixel's confidence
is the probability mass inside the window [c - 1, c + 1] around its decoded level c (the expected level for
soft-cl, the most likely one for hard-cl), each level counted by the fraction of its interval inside the window.
A distribution within one bin of c gives 1, a flat one 2 / (K + 1) (0.025 for K = 80); continuous in c.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DepthBins:
    """K log-spaced bins between alpha and beta metres (Eq. 1)."""

    alpha: float
    beta: float
    num_bins: int

    def __post_init__(self) -> None:
        if not (self.alpha > 0 and self.beta > self.alpha):
            raise ValueError(f"depth bins need 0 < alpha < beta, got alpha={self.alpha}, beta={self.beta}")
        if self.num_bins < 1:
            raise ValueError(f"depth bins need K >= 1, got {self.num_bins}")

    @property
    def q(self) -> float:
        """Width of one bin in log10 metres."""
        return (math.log10(self.beta) - math.log10(self.alpha)) / self.num_bins

    @property
    def num_levels(self) -> int:
        """Number of classifier outputs: the levels 0..K that Eq. 1's rounding produces."""
        return self.num_bins + 1

    def continuous_level(self, depth: torch.Tensor) -> torch.Tensor:
        """Eq. 1 before rounding, clamped to [0, K]; the soft-cl target (smooth-L1 on levels)."""
        level = (torch.log10(depth.clamp_min(self.alpha)) - math.log10(self.alpha)) / self.q
        return level.clamp(0.0, float(self.num_bins))

    def quantize(self, depth: torch.Tensor) -> torch.Tensor:
        """Eq. 1: the integer level (int64) of each depth, clamped to 0..K."""
        return torch.round(self.continuous_level(depth)).long()

    def level_to_depth(self, level: torch.Tensor) -> torch.Tensor:
        """Inverse of Eq. 1: metres for a (possibly fractional) level."""
        return self.alpha * torch.pow(10.0, level.float() * self.q)

    def level_values(self, device: torch.device | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The levels 0..K as a tensor, for the expected-level sum."""
        return torch.arange(self.num_levels, device=device, dtype=dtype)

    def expected_level(self, logits: torch.Tensor, dim: int = 1) -> torch.Tensor:
        """Soft classification decoding: sum_j j * softmax(logits)_j along `dim` (Eq. 2's d_i), in float32.

        The levels are moved last (a view; contiguous for channels-last maps) and the sum is a matrix-vector
        product, so no (N, K+1, H, W) product tensor is made: 2-4x faster on a CPU than softmax-multiply-sum
        over dim 1, which matters because this runs at the full output resolution.
        """
        probs = torch.softmax(logits.movedim(dim, -1), dim=-1, dtype=torch.float32)
        return torch.matmul(probs, self.level_values(probs.device)).unsqueeze(dim)

    def expected_depth(self, logits: torch.Tensor, dim: int = 1) -> torch.Tensor:
        """Metric depth from classification logits: expected level mapped back through Eq. 1."""
        return self.level_to_depth(self.expected_level(logits, dim=dim))

    def window_mass(self, probs: torch.Tensor, center: torch.Tensor, radius: float = 1.0, dim: int = 1) -> torch.Tensor:
        """Probability mass of `probs` (levels along `dim`) within `center` +- `radius` levels, each level
        j counted by the overlap of [j - 1/2, j + 1/2] with the window; `center` has size 1 along `dim`.

        Only the 2 * ceil(radius) + 1 levels the window can touch are gathered, not all K + 1.
        """
        if radius < 0:
            raise ValueError(f"radius must be >= 0, got {radius}")
        probs = probs.float().movedim(dim, -1)
        center = center.float().movedim(dim, -1)
        reach = math.ceil(radius)
        offsets = torch.arange(-reach, reach + 1, device=probs.device, dtype=torch.float32)
        levels = torch.round(center) + offsets
        overlap = torch.minimum(levels + 0.5, center + radius) - torch.maximum(levels - 0.5, center - radius)
        overlap = overlap.clamp(0.0, 1.0) * ((levels >= 0) & (levels <= self.num_bins))
        picked = probs.gather(-1, levels.clamp(0, self.num_bins).long())
        return (picked * overlap).sum(-1, keepdim=True).clamp(0.0, 1.0).movedim(-1, dim)

    def decode(self, logits: torch.Tensor, dim: int = 1, hard: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(level, confidence) from one softmax: the expected level (`hard`: the most likely one, the hard-cl
        decoding) and the probability mass within one bin of it (the module docstring's confidence)."""
        probs = torch.softmax(logits.movedim(dim, -1), dim=-1, dtype=torch.float32)  # levels last, as expected_level
        if hard:
            level = logits.argmax(dim=dim, keepdim=True).float().movedim(dim, -1)
        else:
            level = torch.matmul(probs, self.level_values(probs.device)).unsqueeze(-1)
        return level.movedim(-1, dim), self.window_mass(probs, level, dim=-1).movedim(-1, dim)

    def confidence(self, logits: torch.Tensor, dim: int = 1, hard: bool = False) -> torch.Tensor:
        """Per-pixel confidence in [0, 1]: probability mass within one bin of the decoded level."""
        return self.decode(logits, dim=dim, hard=hard)[1]

    def argmax_depth(self, logits: torch.Tensor, dim: int = 1) -> torch.Tensor:
        """Hard classification decoding (the hard-cl ablation): depth of the most likely level."""
        return self.level_to_depth(logits.argmax(dim=dim, keepdim=True))
