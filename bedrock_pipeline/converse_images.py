"""What Converse takes of an image sent as bytes, checked before the request is made.

Limits (Bedrock API Reference, API_runtime_Message.html, ``content``): "up to 20 images. Each
image's size, height, and width must be no more than 3.75 MB, 8000 px, and 8000 px". The size
is read as 3.75 MiB (3,932,160 bytes, three quarters of the 5 MiB a base64 body may hold);
formats png | jpeg | gif | webp (API_runtime_ImageBlock.html). The evaluation reads each image
named by a test record from S3 and sends its bytes (``ImageSource.bytes``), so a record whose
image breaks a limit gets an error naming the image and the limit instead of a model call.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from bedrock_pipeline.format_base import ImageRef

MAX_IMAGE_BYTES = 3_932_160  # 3.75 MiB per image
MAX_IMAGE_SIDE_PX = 8000  # height and width, each
MAX_IMAGES_PER_REQUEST = 20
# Pillow's name of each Converse image format.
_PILLOW_FORMATS = {"png": "PNG", "jpeg": "JPEG", "gif": "GIF", "webp": "WEBP"}


class ImageRefused(ValueError):
    """An image Converse would refuse; str() names the image and the limit."""


def check_count(images: Sequence[ImageRef]) -> None:
    """Raises ImageRefused when one request would carry more than 20 images."""
    if len(images) > MAX_IMAGES_PER_REQUEST:
        raise ImageRefused(
            f"{len(images)} images in one request; Converse takes at most {MAX_IMAGES_PER_REQUEST}"
        )


def check_image(image: ImageRef, data: bytes) -> tuple[int, int]:
    """(width, height) of ``data``, which must be a decodable image in the declared format and
    within Converse's size and dimension limits; raises ImageRefused naming the image.

    Only the header is decoded (Pillow opens lazily), so a large image costs little here.
    """
    if not data:
        raise ImageRefused(f"image {image.uri} is empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageRefused(
            f"image {image.uri} is {len(data):,} bytes; Converse takes at most "
            f"{MAX_IMAGE_BYTES:,} bytes (3.75 MiB) per image"
        )
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as opened:
            found, (width, height) = opened.format, opened.size
    except (UnidentifiedImageError, OSError) as exc:
        raise ImageRefused(f"image {image.uri} is not a readable image: {exc}") from exc
    except Exception as exc:  # Pillow's DecompressionBombError and other refusals
        raise ImageRefused(f"image {image.uri} is refused by the image reader: {exc}") from exc
    expected = _PILLOW_FORMATS.get(image.format)
    if found != expected:
        raise ImageRefused(
            f"image {image.uri} is declared {image.format} but its bytes are "
            f"{(found or 'unknown').lower()}"
        )
    if width > MAX_IMAGE_SIDE_PX or height > MAX_IMAGE_SIDE_PX:
        raise ImageRefused(
            f"image {image.uri} is {width} x {height} px; Converse takes at most "
            f"{MAX_IMAGE_SIDE_PX} px in width and in height"
        )
    return width, height
