"""Log-spaced depth quantization of the paper's Eq. 1 (DORN's scheme) and its inverse.

Eq. 1:  b = round((log10(x) - log10(alpha)) / q),   q = (log10(beta) - log10(alpha)) / K.

For x in [alpha, beta] the rounded level b takes the K + 1 integer values 0..K, so the
classification head predicts K + 1 levels (b_max = K = D in Eq. 2's notation).  The expected
level d = sum_j j * p_j is the paper's sum over j = 1..D (level 0 contributes nothing), and a
level maps back to metres through the inverse of Eq. 1: x = alpha * 10 ** (b * q).
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
        """Soft classification decoding: sum_j j * softmax(logits)_j along `dim` (Eq. 2's d_i)."""
        probs = torch.softmax(logits.float(), dim=dim)
        shape = [1] * probs.dim()
        shape[dim] = self.num_levels
        return (probs * self.level_values(probs.device).view(shape)).sum(dim=dim, keepdim=True)

    def expected_depth(self, logits: torch.Tensor, dim: int = 1) -> torch.Tensor:
        """Metric depth from classification logits: expected level mapped back through Eq. 1."""
        return self.level_to_depth(self.expected_level(logits, dim=dim))

    def argmax_depth(self, logits: torch.Tensor, dim: int = 1) -> torch.Tensor:
        """Hard classification decoding (the hard-cl ablation): depth of the most likely level."""
        return self.level_to_depth(logits.argmax(dim=dim, keepdim=True))
