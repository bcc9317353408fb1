"""Image handling per depth range (paper 5.1): fit an image of any size to a network's working canvas and map
the predicted depth back to the image's own resolution and geometry.

- "resize" (low range, ScanNet/NYU style): resize to the working size, e.g. 320x240.
- "pad" (high range, KITTI style): keep the scale (downscale only if larger than the canvas, aspect kept) and
  zero-pad top and right to the working size, e.g. 1248x384, as KITTI stereo/depth code pads 1242x375 images.
- "scale_pad" (coarse network): scale to the working height keeping the aspect ratio (KITTI 1242x375 -> 795x240,
  640x480 -> 320x240), the fully-convolutional net sees the whole view.
In every mode the canvas is then zero-padded bottom/right to the network's size multiple (32 low, 4 high),
which is what turns 320x240 into the 320x256 that Table 1's stride-32 encoder needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from side_ros.networks.config import SIDENetConfig


@dataclass(frozen=True)
class Prepared:
    """A batch on a network's canvas and where the image lies in it (rows y0:y0+h, cols x0:x0+w)."""

    tensor: torch.Tensor
    y0: int
    x0: int
    h: int
    w: int
    orig_h: int
    orig_w: int


def _round_up(v: int, m: int) -> int:
    return int(math.ceil(v / m) * m)


def fitted_size(h: int, w: int, cfg: SIDENetConfig) -> tuple[int, int]:
    """Size (h, w) the image is resized to before padding, per the config's input handling."""
    cw, ch = cfg.input_size
    if cfg.input_handling == "resize":
        return ch, cw
    if cfg.input_handling == "pad":
        s = min(1.0, cw / w, ch / h)
        return max(1, round(h * s)), max(1, round(w * s))
    return ch, max(1, round(w * ch / h))  # scale_pad


def resize(x: torch.Tensor, size: tuple[int, int], depth: bool = False) -> torch.Tensor:
    """Bilinear resize (antialiased when shrinking an image); no-op when the size already matches."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrinking = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrinking and not depth)


def fitted_canvas(h: int, w: int, cfg: SIDENetConfig) -> tuple[int, int]:
    """Size (H, W) of the network's canvas for an image of h x w (what the network actually runs on)."""
    fh, fw = fitted_size(h, w, cfg)
    m = cfg.size_multiple
    if cfg.input_handling == "pad":
        return _round_up(max(cfg.input_size[1], fh), m), _round_up(max(cfg.input_size[0], fw), m)
    return _round_up(fh, m), _round_up(fw, m)


def prepare(rgb: torch.Tensor, cfg: SIDENetConfig) -> Prepared:
    """(N, 3, H, W) RGB in [0, 1] -> the network's padded canvas."""
    if rgb.dim() != 4 or rgb.shape[1] != 3:
        raise ValueError(f"expected an (N, 3, H, W) RGB batch, got shape {tuple(rgb.shape)}")
    n, _, h0, w0 = rgb.shape
    if h0 < 1 or w0 < 1:
        raise ValueError(f"empty image {h0}x{w0}")
    h, w = fitted_size(h0, w0, cfg)
    x = resize(rgb, (h, w))
    ch, cw = fitted_canvas(h0, w0, cfg)
    # "pad": image at the bottom-left, zeros on top and on the right (KITTI style); else zeros bottom / right
    y0, x0 = (ch - h, 0) if cfg.input_handling == "pad" else (0, 0)
    if (ch, cw) != (h, w):
        x = F.pad(x, (x0, cw - w - x0, y0, ch - h - y0))
    return Prepared(x.contiguous(), y0, x0, h, w, h0, w0)


def crop(x: torch.Tensor, prep: Prepared) -> torch.Tensor:
    """The part of a canvas-sized map (N, C, Hc, Wc) where the image lies."""
    return x[..., prep.y0 : prep.y0 + prep.h, prep.x0 : prep.x0 + prep.w]


def restore(depth: torch.Tensor, prep: Prepared) -> torch.Tensor:
    """(N, 1, Hc, Wc) depth on the canvas -> (N, 1, H, W) at the original image's resolution."""
    return to_image(crop(depth, prep), prep)


def to_image(x: torch.Tensor, prep: Prepared) -> torch.Tensor:
    """A map of the image's part of the canvas (N, C, h, w) -> float32 at the original image's resolution."""
    return resize(x.float(), (prep.orig_h, prep.orig_w), depth=True)


def canvas_outputs(model: torch.nn.Module, prep: Prepared) -> dict[str, torch.Tensor]:
    """A DS-SIDENet's inference-branch output for the canvas, cropped to where the image lies (N, C, h, w).

    Decoding the levels is per pixel, so decoding only the crop is exact, and cheaper: decoding is a softmax over
    K + 1 levels per pixel, and a 640x480 image fills 41 % of the high-range network's 1248x384 canvas.
    """
    out = model(prep.tensor.to(next(model.parameters()).dtype), branches=(model.config.inference_head,))
    return {k: crop(v, prep) for k, v in out.items()}


Focal = tuple[float, float]  # (fx, fy) in pixels of the image as given (not of the network's canvas)


def working_focal(focal: Focal, h: int, w: int, cfg: SIDENetConfig) -> float:
    """The camera's focal length on the network's canvas: (fx, fy) of an h x w image scaled as `prepare` scales
    it, combined as their geometric mean (a "resize" to another aspect scales them differently)."""
    fx, fy = float(focal[0]), float(focal[1])
    if not (math.isfinite(fx) and math.isfinite(fy) and fx > 0 and fy > 0):
        raise ValueError(f"focal lengths must be positive and finite, got fx={fx!r}, fy={fy!r}")
    fh, fw = fitted_size(h, w, cfg)
    return math.sqrt(fx * fw / w * fy * fh / h)


def focal_factor(cfg: SIDENetConfig, focal: Focal | None, h: int, w: int) -> float:
    """Multiplier from the network's output to metric depth for a camera of this focal: f_canvas / canonical.

    1 for metric networks (canonical_focal 0) and when the focal is unknown (the training camera is assumed).
    """
    if not cfg.canonical_focal or focal is None:
        return 1.0
    return working_focal(focal, h, w, cfg) / cfg.canonical_focal


def predict_depth(model: torch.nn.Module, rgb: torch.Tensor, focal: Focal | None = None) -> torch.Tensor:
    """A DS-SIDENet's metric depth for (N, 3, H, W) RGB in [0, 1] at the images' own size: fit to the
    network's canvas per its input handling, predict (in the network's dtype), map back, and rescale
    canonical-focal depth to the camera's `focal` (fx, fy of the images as given). Returns float32."""
    prep = prepare(rgb, model.config)
    out = to_image(model.decode_depth(canvas_outputs(model, prep)), prep)
    k = focal_factor(model.config, focal, prep.orig_h, prep.orig_w)
    return out * k if k != 1.0 else out


def predict_depth_confidence(
    model: torch.nn.Module, rgb: torch.Tensor, focal: Focal | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """predict_depth plus the per-pixel confidence in [0, 1] mapped back the same way (None for a network with a
    regression inference head; the focal rescaling moves every level alike and leaves it unchanged). Both
    float32 (N, 1, H, W)."""
    prep = prepare(rgb, model.config)
    depth, confidence = model.decode_depth_confidence(canvas_outputs(model, prep))
    k = focal_factor(model.config, focal, prep.orig_h, prep.orig_w)
    out = to_image(depth, prep)
    out = out * k if k != 1.0 else out
    if confidence is None:
        return out, None
    return out, to_image(confidence, prep).clamp_(0.0, 1.0)


def image_to_tensor(image: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """HxWx3 uint8 RGB (NumPy) or (N,3,H,W)/(3,H,W) tensor -> (N, 3, H, W) float32 in [0, 1] on `device`.

    uint8 input goes to the device first and is converted there (4x less to copy to a GPU).
    """
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 RGB image, got array of shape {image.shape}")
        if image.shape[0] == 0 or image.shape[1] == 0:
            raise ValueError(f"empty image {image.shape[0]}x{image.shape[1]}")
        arr = np.ascontiguousarray(image)
        if not arr.flags.writeable:
            # Read-only buffers (PIL's np.asarray, a message's bytes) would make torch warn that the tensor could
            # write into them; one copy of the uint8 image is cheap next to inference, and nothing is written here.
            arr = arr.copy()
        t = torch.from_numpy(arr).to(device, non_blocking=True).permute(2, 0, 1)[None]
    elif isinstance(image, torch.Tensor):
        t = image[None] if image.dim() == 3 else image
        if t.dim() != 4 or t.shape[1] != 3:
            raise ValueError(f"expected a (N, 3, H, W) or (3, H, W) tensor, got shape {tuple(image.shape)}")
        t = t.to(device, non_blocking=True)
    else:
        raise TypeError(f"expected a NumPy array or torch tensor, got {type(image).__name__}")
    if t.dtype == torch.uint8:
        return t.float().div_(255.0)
    if not t.is_floating_point():
        raise ValueError(f"image tensor must be uint8 or float in [0, 1], got {t.dtype}")
    return t.float()
