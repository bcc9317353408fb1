"""DS-SIDENet (Tables 1-2), its depth bins (Eq. 1), the Places365 scene classifier and checkpoint files."""

from side_ros.networks.bins import DepthBins
from side_ros.networks.checkpoint import CheckpointError, load_sidenet, save_sidenet_checkpoint
from side_ros.networks.config import SIDENetConfig, coarse_config, high_range_config, low_range_config
from side_ros.networks.sidenet import DSSIDENet

__all__ = [
    "CheckpointError",
    "DSSIDENet",
    "DepthBins",
    "SIDENetConfig",
    "coarse_config",
    "high_range_config",
    "load_sidenet",
    "low_range_config",
    "save_sidenet_checkpoint",
]
