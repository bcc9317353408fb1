"""Building blocks of DS-SIDENet: convbn, depth-wise separable convs, upproj, upproj-con, AM/SAM and SHG.

Facts from the reference implementations are in `shared/notes/references.md`; the choices the paper
leaves open are explained in `side_ros/networks/DESIGN.md`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class ConvBN(nn.Sequential):
    """Table 1's 'convbn' (conv, BN) followed by ReLU: a full convolution."""

    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1, relu: bool = True):
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, k, stride, padding=dilation * (k - 1) // 2, dilation=dilation, bias=False),
            nn.BatchNorm2d(cout),
        ]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class DSConvBN(nn.Sequential):
    """Table 1's 'convbn, dw': depth-wise 3x3 (stride, dilation) + BN + ReLU, then point-wise 1x1 + BN + ReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 1, dilation: int = 1):
        super().__init__(
            nn.Conv2d(cin, cin, 3, stride, padding=dilation, dilation=dilation, groups=cin, bias=False),
            nn.BatchNorm2d(cin),
            nn.ReLU(inplace=True),
            nn.Conv2d(cin, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


def unpool2x(x: torch.Tensor) -> torch.Tensor:
    """FCRN unpooling: each value to the top-left of a 2x2 block, zeros elsewhere (not max-unpooling)."""
    n, c, h, w = x.shape
    out = x.new_zeros(n, c, h, 2, w, 2)
    out[:, :, :, 0, :, 0] = x
    return out.view(n, c, 2 * h, 2 * w)


def interleave2x(ee: torch.Tensor, eo: torch.Tensor, oe: torch.Tensor, oo: torch.Tensor) -> torch.Tensor:
    """Place four (N,C,H,W) maps at the 2x2 sub-pixel positions (even/odd row, even/odd column) of a 2H x 2W map."""
    n, c, h, w = ee.shape
    top = torch.stack((ee, eo), dim=-1)  # (N,C,H,W,2): row parity 0, column parity 0/1
    bottom = torch.stack((oe, oo), dim=-1)
    return torch.stack((top, bottom), dim=3).reshape(n, c, 2 * h, 2 * w)


def fast_unpool_conv5x5(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """conv5x5(unpool2x(x), weight, bias, padding=2) computed as four small convs on the low-resolution input.

    Output row 2i only sees unpooled rows with even offsets (kernel rows 0, 2, 4 over input rows i-1..i+1);
    row 2i+1 sees odd offsets (kernel rows 1, 3 over input rows i..i+1). Same for columns. This is the
    'fast up-projection' of Laina et al., about 4x cheaper and exactly equal. Every output pixel comes from
    exactly one of the four convs, so each adds the bias (a folded BatchNorm's shift).
    """
    pads = {0: (1, 1), 1: (0, 1)}  # (before, after) padding for even / odd output parity
    outs = []
    for rp in (0, 1):
        for cp in (0, 1):
            k = weight[:, :, rp::2, cp::2]
            xp = F.pad(x, (*pads[cp], *pads[rp]))
            outs.append(F.conv2d(xp, k, bias))
    return interleave2x(*outs)


class UpProj(nn.Module):
    """Laina et al.'s up-projection (Fig. 3b): C -> C/2 channels, H and W times t (t = 2, or 1 for no unpooling).

    main: conv5x5 -> BN -> ReLU -> conv3x3 -> BN; projection: conv5x5 -> BN; out = ReLU(main + projection).
    The two 5x5 convs share one weight tensor (main channels first) so that, for t = 2, the fast
    four-sub-kernel path computes both in one pass; `fast=False` runs the literal unpool + 5x5 path.
    """

    def __init__(self, cin: int, cout: int | None = None, t: int = 2, fast: bool = True):
        super().__init__()
        if t not in (1, 2):
            raise ValueError(f"upproj scale t must be 1 or 2, got {t}")
        cout = cout if cout is not None else cin // 2
        self.t, self.cout, self.fast = t, cout, fast
        self.conv5 = nn.Conv2d(cin, 2 * cout, 5, padding=2, bias=False)  # [main | projection]
        self.bn_main1 = nn.BatchNorm2d(cout)
        self.conv3 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn_main2 = nn.BatchNorm2d(cout)
        self.bn_proj = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.t == 1:
            y = self.conv5(x)
        elif self.fast:
            y = fast_unpool_conv5x5(x, self.conv5.weight, self.conv5.bias)
        else:
            y = self.conv5(unpool2x(x))
        main, proj = y.split(self.cout, dim=1)
        main = self.bn_main2(self.conv3(F.relu(self.bn_main1(main))))
        return F.relu(main + self.bn_proj(proj))


class UpProjCon(nn.Module):
    """upproj-con (Fig. 3c): upproj of the decoder input X, concatenated with the encoder skip Y and the
    RGB input Z pooled to the output scale (1/rgb_scale of the input), fused by a 3x3 convbn to C/2 channels.

    With both skips off it is exactly an upproj (Table 7, first row).
    """

    def __init__(self, cin: int, cout: int, t: int, skip_channels: int = 0, rgb_skip: bool = False, rgb_scale: int = 1):
        super().__init__()
        self.up = UpProj(cin, cout, t)
        self.skip_channels, self.rgb_skip, self.rgb_scale = skip_channels, rgb_skip, rgb_scale
        extra = skip_channels + (3 if rgb_skip else 0)
        self.fuse = ConvBN(cout + extra, cout, 3) if extra else None

    def forward(
        self, x: torch.Tensor, skip: torch.Tensor | None = None, rgb: torch.Tensor | None = None
    ) -> torch.Tensor:
        y = self.up(x)
        if self.fuse is None:
            return y
        parts = [y]
        if self.skip_channels:
            parts.append(skip)
        if self.rgb_skip:
            parts.append(resize_rgb(rgb, self.rgb_scale))
        return self.fuse(torch.cat(parts, dim=1))


def resize_rgb(rgb: torch.Tensor, scale: int) -> torch.Tensor:
    """RGB skip at a decoder scale (1/scale of the input): average pooling, the 'pooling layer capturing global
    context' of 5.3.2. The scale is fixed per block, so the graph exports to ONNX with dynamic image sizes."""
    return rgb if scale == 1 else F.avg_pool2d(rgb, scale, scale)


class AMModule(nn.Module):
    """AMNet's atrous multi-scale module: 3x3 dilated convbn chain with growing dilation, then two 1x1 convbn.

    Residual around the whole module (see DESIGN.md), so three can be stacked and trained from scratch.
    """

    def __init__(self, channels: int, dilations: Sequence[int] = (1, 2, 2, 4, 4, 8, 8, 16)):
        super().__init__()
        self.body = nn.Sequential(
            *[ConvBN(channels, channels, 3, dilation=d) for d in dilations],
            ConvBN(channels, channels, 1),
            ConvBN(channels, channels, 1, relu=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


class SAM(nn.Sequential):
    """Stacked atrous multi-scale module: three AM modules (AMNet); keeps channels and resolution."""

    def __init__(self, channels: int, dilations: Sequence[int] = (1, 2, 2, 4, 4, 8, 8, 16), stacks: int = 3):
        super().__init__(*[AMModule(channels, dilations) for _ in range(stacks)])


class Hourglass(nn.Module):
    """PSMNet-style 2-D hourglass: two stride-2 convbn down, two transposed convs up, residual links."""

    def __init__(self, channels: int):
        super().__init__()
        c = channels
        self.down1 = nn.Sequential(ConvBN(c, 2 * c, 3, stride=2), ConvBN(2 * c, 2 * c, 3))
        self.down2 = nn.Sequential(ConvBN(2 * c, 2 * c, 3, stride=2), ConvBN(2 * c, 2 * c, 3))
        self.up1 = nn.Sequential(nn.ConvTranspose2d(2 * c, 2 * c, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * c))
        self.up2 = nn.Sequential(nn.ConvTranspose2d(2 * c, c, 4, 2, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d1 = self.down1(x)
        d2 = self.down2(d1)
        u1 = F.relu(self.up1(d2) + d1)
        return F.relu(self.up2(u1) + x)


class SHG(nn.Sequential):
    """Stacked hourglass (Table 8 ablation): three hourglasses; needs sides divisible by 4 at its scale."""

    def __init__(self, channels: int, stacks: int = 3):
        super().__init__(*[Hourglass(channels) for _ in range(stacks)])
