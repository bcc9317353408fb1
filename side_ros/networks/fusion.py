"""Inference-time folding of BatchNorm into the preceding convolution (exact in eval mode).

Why: DS-SIDENet has a BatchNorm after every one of its ~80 convolutions; at inference each is a separate pass over
a feature map (on a 2-core CPU, a sixth of the low-range network's time). Folding scales the conv's weights and
adds a bias, once, in float32 (before any cast to bfloat16 or float16, so the folded weights lose nothing extra).
The result computes the same function as the eval-mode original up to float rounding.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from side_ros.networks.layers import UpProj


@torch.no_grad()
def _fold(conv: nn.Conv2d | nn.ConvTranspose2d, bn: nn.BatchNorm2d, rows: slice = slice(None)) -> None:
    """Fold `bn` (eval statistics) into the output channels `rows` of `conv`, giving it a bias if needed."""
    w = conv.weight.float()
    scale = bn.weight.float() / torch.sqrt(bn.running_var.float() + bn.eps)
    out_dim = 1 if isinstance(conv, nn.ConvTranspose2d) else 0
    n_out = w.shape[out_dim] * (conv.groups if isinstance(conv, nn.ConvTranspose2d) else 1)
    if conv.bias is None:
        conv.bias = nn.Parameter(torch.zeros(n_out, dtype=w.dtype, device=w.device), requires_grad=False)
    b = conv.bias.float()
    shape = [1] * w.dim()
    shape[out_dim] = -1
    w_rows = w.narrow(out_dim, rows.start or 0, (rows.stop or n_out) - (rows.start or 0))
    w_rows.mul_(scale.view(shape))
    b[rows] = (b[rows] - bn.running_mean.float()) * scale + bn.bias.float()
    conv.weight.copy_(w)
    conv.bias.copy_(b)


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of `model` with every Conv -> BatchNorm pair folded (BatchNorms become Identity).

    Handles consecutive pairs inside nn.Sequential (convbn, dw convbn, AM modules, hourglass up-sampling) and the
    up-projection, whose one 5x5 conv holds [main | projection] channels followed by two BatchNorms.
    """
    model = copy.deepcopy(model).eval()
    for module in model.modules():
        if isinstance(module, UpProj):
            _fold(module.conv5, module.bn_main1, slice(0, module.cout))
            _fold(module.conv5, module.bn_proj, slice(module.cout, 2 * module.cout))
            _fold(module.conv3, module.bn_main2)
            module.bn_main1, module.bn_proj, module.bn_main2 = nn.Identity(), nn.Identity(), nn.Identity()
        elif isinstance(module, nn.Sequential):
            children = list(module.named_children())
            for (_, a), (name_b, b) in zip(children, children[1:], strict=False):
                if isinstance(a, (nn.Conv2d, nn.ConvTranspose2d)) and isinstance(b, nn.BatchNorm2d):
                    _fold(a, b)
                    setattr(module, name_b, nn.Identity())
    return model
