"""Image messages to RGB without ROS (side_ros/image_conversion.py): size limits applied before anything is decoded,
and texts from the message shortened in the errors."""

from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from side_ros.image_conversion import (
    ImageConversionError,
    ImageLimits,
    compressed_dimensions,
    message_to_rgb,
    shorten,
)
from side_ros.testing import png_bomb

LIMITS = ImageLimits(max_pixels=8_294_400, max_aspect=16.0)


def raw(width: int, height: int, encoding: str = "rgb8"):
    return SimpleNamespace(
        encoding=encoding, width=width, height=height, step=width * 3, is_bigendian=0, data=bytes(width * height * 3)
    )


def compressed(data: bytes, fmt: str = "png"):
    return SimpleNamespace(format=fmt, data=data)


def reason(msg, limits=LIMITS) -> str:
    with pytest.raises(ImageConversionError) as err:
        message_to_rgb(msg, limits)
    return err.value.reason


def test_limits_on_pixels_and_aspect_ratio():
    LIMITS.check(3840, 2160)
    LIMITS.check(1600, 100)
    with pytest.raises(ImageConversionError, match="8000x6000 is 48000000 pixels, more than max_image_pixels"):
        LIMITS.check(8000, 6000)
    with pytest.raises(ImageConversionError, match="10000x1 has one side 10000 times the other"):
        LIMITS.check(10000, 1)
    ImageLimits().check(10000, 1)  # 0: no limit
    ImageLimits(max_pixels=0, max_aspect=16.0).check(100000, 10000)


def test_raw_and_compressed_images_beyond_the_limits_are_refused_before_decoding():
    assert reason(raw(10000, 1)) == "image_too_large"  # 30 KB of data
    assert message_to_rgb(raw(10000, 1)).shape == (1, 10000, 3)  # without limits, as before
    bomb = png_bomb(20000, 20000)
    assert len(bomb) < 400_000 and compressed_dimensions(bomb) == (20000, 20000)  # read from the header only
    with pytest.raises(ImageConversionError, match="20000x20000 is 400000000 pixels") as err:
        message_to_rgb(compressed(bomb), LIMITS)
    assert err.value.reason == "image_too_large"
    wide = cv2.imencode(".jpg", np.zeros((8, 200, 3), np.uint8))[1].tobytes()
    assert compressed_dimensions(wide) == (200, 8)
    assert reason(compressed(wide, "jpeg")) == "image_too_large"
    # A size that cannot be read from the header is not decoded blindly.
    assert compressed_dimensions(bytes(range(256))) is None
    assert reason(compressed(bytes(range(256)))) == "decode_failed"
    ok = cv2.imencode(".png", np.full((48, 64, 3), 7, np.uint8))[1].tobytes()
    assert message_to_rgb(compressed(ok), LIMITS).shape == (48, 64, 3)


def test_texts_from_the_message_are_shortened_in_errors():
    with pytest.raises(ImageConversionError) as err:
        message_to_rgb(raw(4, 4, encoding="x" * 1_000_000))
    assert len(str(err.value)) < 400 and "(1000000 characters)" in str(err.value)
    with pytest.raises(ImageConversionError) as err:
        message_to_rgb(compressed(b"\x00" * 10, "f" * 1_000_000 + "compressedDepth"))
    assert len(str(err.value)) < 400
    assert shorten("abc") == "'abc'"
