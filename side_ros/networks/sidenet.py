"""DS-SIDENet (paper section 4, Tables 1-2): depth-wise separable encoder and a two-branch upproj-con decoder.

The classification branch (soft or hard) predicts a distribution over the K + 1 levels of Eq. 1 and gives
the metric depth at inference; the regression branch only exists for the multi-task loss (Eq. 3) and is
not run at inference, so it costs nothing there.
"""

from __future__ import annotations

import torch
from torch import nn

from side_ros.networks.config import SIDENetConfig
from side_ros.networks.layers import SAM, SHG, ConvBN, DSConvBN, UpProj, UpProjCon

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Encoder(nn.Module):
    """Table 1: five blocks; returns every block's output for the decoder's skip connections."""

    def __init__(self, variant: str):
        super().__init__()
        low = variant == "low"
        s34 = 2 if low else 1  # the high-range encoder stops downsampling after block 2 (output stride 4)
        self.block1 = nn.Sequential(ConvBN(3, 32, 3, stride=2), ConvBN(32, 64, 3))
        self.block2 = nn.Sequential(*[DSConvBN(64, 64) for _ in range(3)], DSConvBN(64, 128, stride=2))
        self.block3 = nn.Sequential(*[DSConvBN(128, 128) for _ in range(3)], DSConvBN(128, 256, stride=s34))
        self.block4 = nn.Sequential(
            DSConvBN(256, 32, dilation=2),
            *[DSConvBN(32, 32, dilation=2) for _ in range(11)],
            DSConvBN(32, 256, stride=s34),
        )
        self.block5 = nn.Sequential(DSConvBN(256, 256, stride=s34), ConvBN(256, 512 if low else 128, 1))
        self.out_channels = (64, 128, 256, 256, 512 if low else 128)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for block in (self.block1, self.block2, self.block3, self.block4, self.block5):
            x = block(x)
            feats.append(x)
        return feats


class Decoder(nn.Module):
    """Table 2: four upproj-con blocks (SAM/SHG as block 3 in the high range) and a final upproj + output layer.

    Decoder block i takes the skip from encoder block 5 - i (same scale, U-Net order).
    """

    def __init__(self, cfg: SIDENetConfig, enc_channels: tuple[int, ...], out_channels: int):
        super().__init__()
        low = cfg.variant == "low"
        # (input channels, output channels, t, output downsampling) of decoder blocks 1-4, Table 2.
        specs = (
            [(512, 256, 2, 16), (256, 128, 2, 8), (128, 64, 2, 4), (64, 32, 2, 2)]
            if low
            else [(128, 64, 1, 4), (64, 32, 1, 4), (32, 32, 1, 4), (32, 16, 2, 2)]
        )
        use_con = cfg.decoder_block == "upproj_con"
        self.skip_encoder = use_con and cfg.skip_encoder
        self.skip_rgb = use_con and cfg.skip_rgb
        stacked = None if cfg.stacked == "none" else cfg.stacked
        # In the high range a stacked module at block 3 *is* block 3 (Table 2); elsewhere it follows block p.
        self.replace_block3 = stacked is not None and not low and cfg.stacked_block == 3
        blocks = []
        for i, (cin, cout, t, scale) in enumerate(specs, start=1):
            if i == 3 and self.replace_block3:
                blocks.append(_stacked(stacked, cout, cfg))
                continue
            skip_ch = enc_channels[4 - i] if self.skip_encoder else 0
            blocks.append(UpProjCon(cin, cout, t, skip_channels=skip_ch, rgb_skip=self.skip_rgb, rgb_scale=scale))
        self.blocks = nn.ModuleList(blocks)
        self.after = stacked is not None and not self.replace_block3
        self.after_block = cfg.stacked_block
        self.extra = _stacked(stacked, specs[cfg.stacked_block - 1][1], cfg) if self.after else nn.Identity()
        last = specs[-1][1]
        self.block5 = UpProj(last, last // 2, t=2)
        self.output = nn.Conv2d(last // 2, out_channels, 3, padding=1)

    def forward(self, feats: list[torch.Tensor], rgb: torch.Tensor) -> torch.Tensor:
        x = feats[-1]
        for i, block in enumerate(self.blocks, start=1):
            if isinstance(block, UpProjCon):
                x = block(x, feats[4 - i] if self.skip_encoder else None, rgb)
            else:
                x = block(x)
            if self.after and i == self.after_block:
                x = self.extra(x)
        return self.output(self.block5(x))


def _stacked(kind: str, channels: int, cfg: SIDENetConfig) -> nn.Module:
    return SAM(channels, cfg.sam_dilations) if kind == "sam" else SHG(channels)


class DSSIDENet(nn.Module):
    """DS-SIDENet. Input: RGB in [0, 1], (N, 3, H, W), sides multiples of `config.size_multiple`.

    `forward` returns a dict with "cls_logits" (N, K+1, H, W) and/or "reg_depth" (N, 1, H, W) metres;
    in eval mode it runs only the inference branch. `predict_depth` returns metres (N, 1, H, W).
    """

    def __init__(self, config: SIDENetConfig):
        super().__init__()
        self.config = config
        self.bins = config.bins
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.encoder = Encoder(config.variant)
        enc = self.encoder.out_channels
        self.cls_decoder = Decoder(config, enc, self.bins.num_levels) if config.cls_head else None
        self.reg_decoder = Decoder(config, enc, 1) if "reg" in config.heads else None

    def check_input(self, x: torch.Tensor) -> None:
        """Refuse inputs the architecture cannot map back to their own size (Tables 1-2)."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"DS-SIDENet expects (N, 3, H, W) RGB, got shape {tuple(x.shape)}")
        m = self.config.size_multiple
        if x.shape[-1] % m or x.shape[-2] % m:
            raise ValueError(
                f"{self.config.variant}-range DS-SIDENet needs H and W multiples of {m}, "
                f"got {x.shape[-2]}x{x.shape[-1]}"
            )

    def forward(self, x: torch.Tensor, branches: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
        self.check_input(x)
        if branches is None:
            branches = ("cl", "reg") if self.training else (self.config.inference_head,)
        z = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        feats = self.encoder(z)
        out: dict[str, torch.Tensor] = {}
        if "cl" in branches and self.cls_decoder is not None:
            out["cls_logits"] = self.cls_decoder(feats, z)
        if "reg" in branches and self.reg_decoder is not None:
            out["reg_depth"] = self.reg_decoder(feats, z)
        return out

    def decode_depth(self, out: dict[str, torch.Tensor]) -> torch.Tensor:
        """Metric depth from the inference branch's output: expected level (soft-cl), argmax (hard-cl) or reg."""
        if self.config.inference_head == "reg":
            return out["reg_depth"].float().clamp(self.bins.alpha, self.bins.beta)
        if self.config.cls_head == "hard_cl":
            return self.bins.argmax_depth(out["cls_logits"])
        return self.bins.expected_depth(out["cls_logits"])

    def predict_depth(self, x: torch.Tensor) -> torch.Tensor:
        """Depth in metres (N, 1, H, W) from the inference branch only."""
        return self.decode_depth(self.forward(x, branches=(self.config.inference_head,)))

    @property
    def gives_confidence(self) -> bool:
        """Whether inference yields a bin distribution per pixel (classification head), hence a confidence."""
        return self.config.inference_head == "cl"

    def predict_depth_confidence(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Depth in metres and confidence in [0, 1] (DepthBins.decode), both (N, 1, H, W), from one softmax;
        confidence None for a regression inference head (no distribution to measure)."""
        return self.decode_depth_confidence(self.forward(x, branches=(self.config.inference_head,)))

    def decode_depth_confidence(self, out: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """decode_depth plus the confidence (None for a regression head), from the inference branch's output."""
        if not self.gives_confidence:
            return self.decode_depth(out), None
        level, confidence = self.bins.decode(out["cls_logits"], hard=self.config.cls_head == "hard_cl")
        return self.bins.level_to_depth(level), confidence


class DepthExport(nn.Module):
    """Inference-only wrapper (image in [0, 1] -> depth in metres) for TorchScript and ONNX export."""

    def __init__(self, model: DSSIDENet):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.predict_depth(x)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def inference_parameters(model: DSSIDENet) -> int:
    """Parameters used at inference: encoder + the inference branch's decoder."""
    dec = model.reg_decoder if model.config.inference_head == "reg" else model.cls_decoder
    return count_parameters(model.encoder) + count_parameters(dec)
