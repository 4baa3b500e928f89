"""A tiny RGB raster with rectangles and bitmap text, encoded as PNG with zlib and struct only.

Enough to draw a bar chart inside a Lambda whose runtime has no imaging library.
"""

from __future__ import annotations

import struct
import zlib

from bedrock_pipeline import bitmap_font

Color = tuple[int, int, int]


class Canvas:
    def __init__(self, width: int, height: int, background: Color = (255, 255, 255)) -> None:
        if width <= 0 or height <= 0:
            raise ValueError(f"canvas size must be positive, got {width}x{height}")
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(background) * (width * height))

    def fill_rect(self, x: int, y: int, w: int, h: int, color: Color) -> None:
        """Fill [x, x+w) x [y, y+h), clipped to the canvas."""
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(self.width, x + w), min(self.height, y + h)
        if x0 >= x1 or y0 >= y1:
            return
        run = bytes(color) * (x1 - x0)
        for row in range(y0, y1):
            start = (row * self.width + x0) * 3
            self.pixels[start : start + len(run)] = run

    @staticmethod
    def text_width(text: str, scale: int = 1) -> int:
        """Width in pixels: each glyph plus one pixel of spacing, at ``scale``."""
        return max(0, len(text) * (bitmap_font.WIDTH + 1) - 1) * scale

    @staticmethod
    def text_height(scale: int = 1) -> int:
        return bitmap_font.HEIGHT * scale

    def text(self, x: int, y: int, text: str, color: Color, scale: int = 1) -> None:
        """Draw ``text`` with its top-left corner at (x, y)."""
        for i, ch in enumerate(text):
            gx = x + i * (bitmap_font.WIDTH + 1) * scale
            for r, row in enumerate(bitmap_font.glyph(ch)):
                for c, on in enumerate(row):
                    if on:
                        self.fill_rect(gx + c * scale, y + r * scale, scale, scale, color)

    def text_centered(self, cx: int, y: int, text: str, color: Color, scale: int = 1) -> None:
        self.text(cx - self.text_width(text, scale) // 2, y, text, color, scale)

    def to_png(self) -> bytes:
        stride = self.width * 3
        # Filter type 0 (None) on every scanline: flat chart colours compress well without it.
        raw = b"".join(
            b"\x00" + bytes(self.pixels[row * stride : (row + 1) * stride])
            for row in range(self.height)
        )
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(raw, 9))
            + _chunk(b"IEND", b"")
        )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
