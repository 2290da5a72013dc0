"""Screenshots are checked by content: images pass whatever their name, anything else and
decompression bombs are refused without decoding pixels."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from intake.web.images import Limits, NotAnImage, check_image
from tests.support.browser_form import gif, png, png_bomb

LIMITS = Limits(max_bytes=5 * 1024 * 1024, max_pixels=25_000_000)


def test_png_is_kept_with_our_name_and_its_real_type() -> None:
    attachment = check_image(png(), 1, LIMITS)
    assert (attachment.filename, attachment.content_type) == ("screenshot1.png", "image/png")
    assert attachment.content == png()


def test_gif_sent_as_png_is_an_image_and_says_so() -> None:
    attachment = check_image(gif(), 2, LIMITS)
    assert (attachment.filename, attachment.content_type) == ("screenshot2.gif", "image/gif")


def test_jpeg_and_webp() -> None:
    for fmt, mime in (("JPEG", "image/jpeg"), ("WEBP", "image/webp")):
        buffer = io.BytesIO()
        Image.new("RGB", (10, 10)).save(buffer, fmt)
        assert check_image(buffer.getvalue(), 1, LIMITS).content_type == mime


@pytest.mark.parametrize("data", [
    b"<html><script>alert(1)</script></html>",  # an HTML file named .png
    b"",
    b"\x89PNG\r\n\x1a\n",  # a signature and nothing else
    png()[:60],  # cut short
    b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    b"%PDF-1.4\n" + b"x" * 100,
    b"\x00" * 10_000,
])
def test_what_is_not_an_image_is_refused(data: bytes) -> None:
    with pytest.raises(NotAnImage):
        check_image(data, 1, LIMITS)


def test_damaged_png_crc_is_refused() -> None:
    data = bytearray(png())
    data[-20] ^= 0xFF  # inside IDAT: the chunk's CRC no longer matches
    with pytest.raises(NotAnImage):
        check_image(bytes(data), 1, LIMITS)


def test_png_bomb_is_refused_from_its_header() -> None:
    bomb = png_bomb()
    assert len(bomb) < 1_000_000
    with pytest.raises(NotAnImage, match="pixels"):
        check_image(bomb, 1, LIMITS)
    # Past Pillow's own limit too (its DecompressionBombError), same clear refusal.
    with pytest.raises(NotAnImage, match="pixels"):
        check_image(png_bomb(200_000, 200_000), 1, LIMITS)


def test_size_cap() -> None:
    with pytest.raises(NotAnImage, match="larger"):
        check_image(png(), 1, Limits(max_bytes=50, max_pixels=LIMITS.max_pixels))
