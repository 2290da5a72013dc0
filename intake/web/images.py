"""Screenshots checked by content, not by name: what the support form and the app accept.

Pillow identifies the format from the bytes (`Image.open(formats=...)`), `verify()` reads
the file's structure without decoding pixels, and the declared size is checked against
INTAKE_WEB_MAX_IMAGE_PIXELS before anything is decoded, so a small PNG that claims
100,000 x 100,000 pixels (a decompression bomb) is refused, not expanded. The stored
name is ours (`screenshot1.png`), the type is the one the content has.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from intake.messages import Attachment

# Formats a phone or desktop screenshot comes in; nothing that carries script (SVG) or
# needs a heavy decoder.
FORMATS = ("PNG", "JPEG", "GIF", "WEBP")
_EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "GIF": "gif", "WEBP": "webp"}


class NotAnImage(ValueError):
    """The upload is not an image we accept; the message names why (shown to the sender)."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_pixels: int


def check_image(data: bytes, index: int, limits: Limits) -> Attachment:
    """The screenshot as an attachment, or NotAnImage. Cost: the bytes once, never the pixels."""
    if not data:
        raise NotAnImage("empty file")
    if len(data) > limits.max_bytes:
        raise NotAnImage(f"larger than {limits.max_bytes} bytes")
    try:
        with warnings.catch_warnings():
            # Pillow warns (and raises only past twice its own limit): our cap is the error.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=FORMATS) as image:
                image_format = str(image.format)
                width, height = image.size
                if width <= 0 or height <= 0 or width * height > limits.max_pixels:
                    raise NotAnImage(f"{width}x{height} pixels is over the limit of {limits.max_pixels}")
                image.verify()
    except NotAnImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise NotAnImage(f"over the limit of {limits.max_pixels} pixels") from None
    except UnidentifiedImageError:
        raise NotAnImage("not a PNG, JPEG, GIF or WebP image") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error):
        raise NotAnImage("a damaged image") from None
    return Attachment(filename=f"screenshot{index}.{_EXTENSIONS[image_format]}",
                      content_type=Image.MIME[image_format], content=data)

