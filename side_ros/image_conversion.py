"""sensor_msgs Image / CompressedImage <-> NumPy for the node, on top of rosbags.image.

rosbags.image does the colour conversions (cv_bridge's semantics: mono16 scales by 255/65535, Bayer and YUV
through OpenCV) and the decoding of compressed images. What it does not do is check the message: it reads rows as
packed (ignoring `step`) and fails deep inside NumPy on short data. So the message is validated here first, with a
short reason per failure that the node counts dropped frames under, and rows padded to a larger `step` are read
through a strided view.

Size limits (ImageLimits): a message is small on the wire but its image need not be: a 30 KB rgb8 message of
10000x1 px makes a 96x960000 canvas for the coarse network, a 389 KB PNG decodes to 20000x20000 px. Images with
more pixels than a limit, or one side more than a ratio times the other, are refused as "image_too_large" from
the message's fields or, for compressed images, from the header before anything is decoded.

Texts from the message (an encoding, a format) go into error messages shortened: a 1 MB `encoding` must not
become a 1 MB log line.

The functions take any object with the message's fields (rclpy messages, rosbags messages alike) and import no
ROS module, so the offline bag tools can use them too.
"""

from __future__ import annotations

import array
import io
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

try:  # rosbags-image needs OpenCV (opencv-python-headless)
    import cv2
    from rosbags.image import ImageError, compressed_image_to_cvimage, image_to_cvimage
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "side_ros.ros needs rosbags-image and opencv-python-headless: pip install rosbags-image opencv-python-headless"
    ) from exc

# Encodings a camera publishes that rosbags.image turns into rgb8 (channels, bytes per channel).
ENCODINGS: dict[str, tuple[int, int]] = {
    "rgb8": (3, 1),
    "bgr8": (3, 1),
    "rgba8": (4, 1),
    "bgra8": (4, 1),
    "mono8": (1, 1),
    "mono16": (1, 2),
    "rgb16": (3, 2),
    "bgr16": (3, 2),
    "rgba16": (4, 2),
    "bgra16": (4, 2),
    "bayer_rggb8": (1, 1),
    "bayer_bggr8": (1, 1),
    "bayer_gbrg8": (1, 1),
    "bayer_grbg8": (1, 1),
    "bayer_rggb16": (1, 2),
    "bayer_bggr16": (1, 2),
    "bayer_gbrg16": (1, 2),
    "bayer_grbg16": (1, 2),
    "yuv422": (2, 1),
    "uyvy": (2, 1),
    "yuyv": (2, 1),
    "yuv422_yuy2": (2, 1),
}


class ImageConversionError(ValueError):
    """A message that cannot become an RGB image; `reason` is the short key the node counts drops under."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def shorten(text: object, limit: int = 64) -> str:
    """repr() of a text from a message, cut to `limit` characters with its full length said (for log lines)."""
    text = str(text)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


@dataclass(frozen=True)
class ImageLimits:
    """The largest image worth processing: at most `max_pixels` pixels and no side more than `max_aspect` times
    the other (0 turns either check off)."""

    max_pixels: int = 0
    max_aspect: float = 0.0

    def check(self, width: int, height: int) -> None:
        """Raise ImageConversionError("image_too_large") for a width x height image beyond the limits."""
        if self.max_pixels and width * height > self.max_pixels:
            raise ImageConversionError(
                "image_too_large",
                f"{width}x{height} is {width * height} pixels, more than max_image_pixels "
                f"{self.max_pixels}; downscale the camera's output or raise the limit",
            )
        ratio = max(width, height) / max(min(width, height), 1)
        if self.max_aspect and ratio > self.max_aspect:
            raise ImageConversionError(
                "image_too_large",
                f"{width}x{height} has one side {ratio:.0f} times the other, more than "
                f"max_aspect_ratio {self.max_aspect:g}",
            )


def compressed_dimensions(data: Any) -> tuple[int, int] | None:
    """(width, height) from a compressed image's header (JPEG, PNG and the other formats Pillow reads), without
    decoding its pixels; None when no format recognizes the header.

    Pillow's format plugins are used directly: Image.open would apply Pillow's own decompression-bomb limit
    (a process-wide setting) and refuse a bomb without saying its size."""
    from PIL import Image

    raw = _buffer(data).tobytes()
    Image.init()
    for fmt in Image.ID:
        factory, accept = Image.OPEN[fmt]
        try:
            if accept is not None and not accept(raw[:16]):
                continue
            with factory(io.BytesIO(raw), "") as im:
                return im.size
        except Exception:
            continue
    return None


def _buffer(data: Any) -> np.ndarray:
    """The message's bytes as a uint8 array without copying (array.array, bytes, memoryview or ndarray)."""
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8)
    return np.frombuffer(data, dtype=np.uint8)


def image_msg_to_rgb(msg: Any, limits: ImageLimits | None = None) -> np.ndarray:
    """sensor_msgs/Image -> (H, W, 3) uint8 RGB.

    rgb8 with packed rows comes back as a view of the message's buffer (no copy); other encodings cost one
    OpenCV conversion. Raises ImageConversionError(reason) for unsupported encodings ("unsupported_encoding"),
    zero-size images ("empty_image"), a step shorter than a row ("bad_step"), data shorter than step x height
    ("data_too_short") and images beyond `limits` ("image_too_large").
    """
    enc = str(msg.encoding)
    if enc not in ENCODINGS:
        raise ImageConversionError(
            "unsupported_encoding", f"unsupported image encoding {shorten(enc)} (supported: {', '.join(ENCODINGS)})"
        )
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h == 0 or w == 0:
        raise ImageConversionError("empty_image", f"zero-size image {w}x{h}")
    channels, size = ENCODINGS[enc]
    row = w * channels * size
    if step < row:
        raise ImageConversionError("bad_step", f"step {step} is shorter than a {enc} row of {w} pixels ({row} bytes)")
    buf = _buffer(msg.data)
    if buf.size < step * h:
        raise ImageConversionError(
            "data_too_short", f"{enc} {w}x{h} with step {step} needs {step * h} bytes, got {buf.size}"
        )
    if limits is not None:
        limits.check(w, h)
    if step != row:
        # Padded rows: a strided view over the buffer, made contiguous once for rosbags (which assumes packed).
        view = np.ndarray((h, row), dtype=np.uint8, buffer=buf, strides=(step, 1))
        msg = SimpleNamespace(
            encoding=enc,
            height=h,
            width=w,
            step=row,
            is_bigendian=msg.is_bigendian,
            data=np.ascontiguousarray(view).reshape(-1),
        )
    elif not isinstance(msg.data, (array.array, bytes, bytearray, memoryview, np.ndarray)):
        msg = SimpleNamespace(encoding=enc, height=h, width=w, step=row, is_bigendian=msg.is_bigendian, data=buf)
    try:
        out = image_to_cvimage(msg, "rgb8")
    except (ImageError, cv2.error, ValueError, TypeError) as exc:
        raise ImageConversionError("conversion_failed", f"cannot convert {enc} {w}x{h} to rgb8: {exc}") from exc
    return _as_rgb(out)


def compressed_msg_to_rgb(msg: Any, limits: ImageLimits | None = None) -> np.ndarray:
    """sensor_msgs/CompressedImage (JPEG/PNG as image_transport's compressed plugin writes) -> (H, W, 3) uint8 RGB.

    compressedDepth payloads are not camera images and are refused ("unsupported_encoding"); undecodable data
    is "decode_failed". With `limits`, the size is read from the header first: too large is "image_too_large",
    and a header that gives no size is "decode_failed" (nothing is decoded whose size is unknown).
    """
    fmt = str(getattr(msg, "format", ""))
    if "compresseddepth" in fmt.replace(" ", "").lower():
        raise ImageConversionError(
            "unsupported_encoding", f"compressedDepth images ({shorten(fmt)}) are depth, not camera images"
        )
    buf = _buffer(msg.data)
    if buf.size == 0:
        raise ImageConversionError("empty_image", "compressed image with no data")
    if limits is not None and (limits.max_pixels or limits.max_aspect):
        size = compressed_dimensions(buf)
        if size is None:
            raise ImageConversionError(
                "decode_failed",
                f"cannot read the image size from the compressed data "
                f"({shorten(fmt)}, {buf.size} bytes): not JPEG or PNG?",
            )
        limits.check(*size)
    try:
        img = compressed_image_to_cvimage(SimpleNamespace(format=fmt, data=buf))
    except (AssertionError, cv2.error, ValueError) as exc:
        raise ImageConversionError(
            "decode_failed",
            f"OpenCV cannot decode the compressed image ({shorten(fmt)}, {buf.size} bytes) {exc}".rstrip(),
        ) from exc
    if img is None or img.size == 0:
        raise ImageConversionError("decode_failed", f"cannot decode compressed image ({shorten(fmt)})")
    # OpenCV decodes to BGR (or grey); the compressed plugin stores colour images as bgr8 before encoding.
    if img.dtype != np.uint8:
        img = (img.astype(np.float32) * (255.0 / np.iinfo(img.dtype).max)).astype(np.uint8)
    if img.ndim == 2:
        return _as_rgb(img)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _as_rgb(img: np.ndarray) -> np.ndarray:
    """Grey (H, W) -> (H, W, 3) as a broadcast view (no copy); colour images pass through."""
    if img.ndim == 2:
        return np.broadcast_to(img[..., None], (*img.shape, 3))
    return img


def message_to_rgb(msg: Any, limits: ImageLimits | None = None) -> np.ndarray:
    """Image or CompressedImage (told apart by the `format` field, as rosbags does) -> (H, W, 3) uint8 RGB."""
    if hasattr(msg, "format"):
        return compressed_msg_to_rgb(msg, limits)
    return image_msg_to_rgb(msg, limits)
