"""Architecture configuration of a DS-SIDENet, stored in every checkpoint so a file rebuilds its network.

The presets follow Tables 1-2 of the paper; the other fields are the ablations of Tables 6-8.
Choices the paper leaves open are explained in `side_ros/networks/DESIGN.md`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from side_ros.networks.bins import DepthBins

VARIANTS = ("low", "high")
HEADS = ("soft_cl", "hard_cl", "reg")
DECODER_BLOCKS = ("upproj_con", "upproj")
STACKED = ("none", "sam", "shg")
INPUT_HANDLING = ("resize", "pad", "scale_pad")


@dataclass(frozen=True)
class SIDENetConfig:
    """Everything needed to rebuild a DS-SIDENet and feed it images.

    variant: "low" (encoder output stride 32, Table 1 left) or "high" (stride 4, Table 1 right).
    heads: training branches; "soft_cl" and "hard_cl" exclude each other (Table 6 rows).
    inference_head: "cl" (classification branch, the paper's choice) or "reg".
    decoder_block / skip_encoder / skip_rgb: Table 7 ablations.
    stacked / stacked_block: Table 8 ablations (SAM or SHG as decoder block 3, or after block 4).
    input_size: working resolution (width, height) the network was trained at; the image is zero-padded
        (bottom/right) to the next multiple of `size_multiple` before the network, e.g. 320x240 -> 320x256.
    input_handling: "resize" to input_size (low range), "pad" zero-pad KITTI-style to input_size
        (high range), "scale_pad" scale to input_size's height keeping aspect (coarse network).
    canonical_focal: focal length (pixels, on the working canvas) the network's depth is expressed for. A
        network trained on one field of view gets metric scale wrong on another, so it predicts
        depth * canonical_focal / f, and inference multiplies by the camera's focal on the canvas over
        canonical_focal. 0 means plain metric depth (checkpoints from before canonical-focal training).
    """

    variant: str = "low"
    alpha: float = 0.5
    beta: float = 10.0
    num_bins: int = 80
    heads: tuple[str, ...] = ("soft_cl", "reg")
    inference_head: str = "cl"
    decoder_block: str = "upproj_con"
    skip_encoder: bool = True
    skip_rgb: bool = True
    stacked: str = "none"
    stacked_block: int = 3
    sam_dilations: tuple[int, ...] = (1, 2, 2, 4, 4, 8, 8, 16)
    input_size: tuple[int, int] = (320, 240)
    input_handling: str = "resize"
    canonical_focal: float = 0.0
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        problems = []
        if self.variant not in VARIANTS:
            problems.append(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        bad_heads = [h for h in self.heads if h not in HEADS]
        if bad_heads or not self.heads:
            problems.append(f"heads must be a non-empty subset of {HEADS}, got {self.heads!r}")
        if "soft_cl" in self.heads and "hard_cl" in self.heads:
            problems.append("heads 'soft_cl' and 'hard_cl' are two forms of one branch: choose one")
        if self.inference_head not in ("cl", "reg"):
            problems.append(f"inference_head must be 'cl' or 'reg', got {self.inference_head!r}")
        elif self.inference_head == "cl" and self.cls_head is None:
            problems.append("inference_head 'cl' needs a classification head in heads")
        elif self.inference_head == "reg" and "reg" not in self.heads:
            problems.append("inference_head 'reg' needs 'reg' in heads")
        if self.decoder_block not in DECODER_BLOCKS:
            problems.append(f"decoder_block must be one of {DECODER_BLOCKS}, got {self.decoder_block!r}")
        if self.stacked not in STACKED:
            problems.append(f"stacked must be one of {STACKED}, got {self.stacked!r}")
        if self.stacked_block not in (3, 4):
            problems.append(f"stacked_block must be 3 or 4, got {self.stacked_block}")
        if self.input_handling not in INPUT_HANDLING:
            problems.append(f"input_handling must be one of {INPUT_HANDLING}, got {self.input_handling!r}")
        if not (isinstance(self.canonical_focal, (int, float)) and self.canonical_focal >= 0):
            problems.append(f"canonical_focal must be >= 0 pixels (0 = metric), got {self.canonical_focal!r}")
        if len(self.input_size) != 2 or min(self.input_size) < 1:
            problems.append(f"input_size must be (width, height) > 0, got {self.input_size}")
        if problems:
            raise ValueError("invalid DS-SIDENet config: " + "; ".join(problems))
        DepthBins(self.alpha, self.beta, self.num_bins)  # validates alpha, beta, K

    @property
    def bins(self) -> DepthBins:
        return DepthBins(self.alpha, self.beta, self.num_bins)

    @property
    def cls_head(self) -> str | None:
        for head in ("soft_cl", "hard_cl"):
            if head in self.heads:
                return head
        return None

    @property
    def output_stride(self) -> int:
        """Downsampling of the encoder output (Table 1): 32 for low range, 4 for high range."""
        return 32 if self.variant == "low" else 4

    @property
    def size_multiple(self) -> int:
        """Input sides must be multiples of this for every block to match Tables 1-2."""
        return 32 if self.variant == "low" else (16 if self.stacked == "shg" else 4)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["heads"] = list(self.heads)
        d["sam_dilations"] = list(self.sam_dilations)
        d["input_size"] = list(self.input_size)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SIDENetConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown DS-SIDENet config keys: {unknown}")
        d = dict(data)
        for key in ("heads", "sam_dilations", "input_size"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)

    def with_(self, **changes: Any) -> SIDENetConfig:
        return replace(self, **changes)


def low_range_config(**overrides: Any) -> SIDENetConfig:
    """Low depth-range DS-SIDENet: ScanNet/NYU style, resized to 320x240, 0.5-10 m."""
    base = SIDENetConfig(
        variant="low",
        alpha=0.5,
        beta=10.0,
        num_bins=80,
        input_size=(320, 240),
        input_handling="resize",
        stacked="none",
        name="low",
    )
    return base.with_(**overrides)


def high_range_config(**overrides: Any) -> SIDENetConfig:
    """High depth-range DS-SIDENet: KITTI style, zero-padded to 1248x384, SAM as decoder block 3, 1-80 m."""
    base = SIDENetConfig(
        variant="high",
        alpha=1.0,
        beta=80.0,
        num_bins=80,
        input_size=(1248, 384),
        input_handling="pad",
        stacked="sam",
        name="high",
    )
    return base.with_(**overrides)


def coarse_config(**overrides: Any) -> SIDENetConfig:
    """Coarse network of the cde router: low-range architecture trained on both ranges, 0.5-80 m."""
    base = SIDENetConfig(
        variant="low",
        alpha=0.5,
        beta=80.0,
        num_bins=96,
        input_size=(320, 240),
        input_handling="scale_pad",
        stacked="none",
        name="coarse",
    )
    return base.with_(**overrides)


PRESETS = {"low": low_range_config, "high": high_range_config, "coarse": coarse_config}
