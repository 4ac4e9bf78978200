"""Binary assets of the demo site, generated on request so no binary file lives in the repository.

Images are deterministic functions of their URL path: a two-colour gradient, a few translucent shapes
and one word from the headline, at the declared size and format. The same path always gives the same
bytes (seeded from a hash of the path), so caches and checksums behave as on a real site. Audio
enclosures are a stream of silent MPEG-1 Layer III frames of the declared duration.
"""

from __future__ import annotations

import hashlib
import io
import random

from PIL import Image, ImageDraw, ImageFont

JPEG_QUALITY = 82  # typical of news CMS exports; keeps a 1400×788 picture near 40–60 kB
TRUNCATE_FRACTION = 0.55  # keep the header and part of the scan: opens, but fails to decode
SHAPE_COUNT = 5
LOGO_SIZE = (600, 60)  # the publisher-logo shape Google's NewsArticle guidelines ask for (≤600×60)

# MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, no padding, mono: 417-byte frames of 1152 samples each.
MP3_FRAME_HEADER = bytes((0xFF, 0xFB, 0x90, 0xC4))
MP3_FRAME_BYTES = 417
MP3_FRAMES_PER_SECOND = 44_100 / 1_152


def _rng(path: str) -> random.Random:
    return random.Random(hashlib.sha256(path.encode()).digest())


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randrange(30, 226), rng.randrange(30, 226), rng.randrange(30, 226))


def _gradient(size: tuple[int, int], start: tuple[int, int, int], end: tuple[int, int, int]) -> Image.Image:
    """A left-to-right blend of two colours, built from Pillow's 256-step linear gradient."""
    mask = Image.linear_gradient("L").rotate(90).resize(size)
    return Image.composite(Image.new("RGB", size, end), Image.new("RGB", size, start), mask)


def _shapes(canvas: Image.Image, rng: random.Random) -> None:
    overlay = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    width, height = canvas.size
    for _ in range(SHAPE_COUNT):
        x, y = rng.randrange(width), rng.randrange(height)
        radius = rng.randrange(min(width, height) // 8, min(width, height) // 2)
        box = (x - radius, y - radius, x + radius, y + radius)
        fill = (*_colour(rng), rng.randrange(50, 120))
        (draw.ellipse if rng.random() < 0.6 else draw.rectangle)(box, fill=fill)
    canvas.paste(overlay, (0, 0), overlay)


def _word(canvas: Image.Image, word: str) -> None:
    draw = ImageDraw.Draw(canvas)
    size = max(12, min(canvas.width // max(len(word), 4), canvas.height // 3))
    font = ImageFont.load_default(size=size)
    left, top, right, bottom = draw.textbbox((0, 0), word, font=font)
    origin = ((canvas.width - (right - left)) // 2, (canvas.height - (bottom - top)) // 2 - top)
    draw.text((origin[0] + 3, origin[1] + 3), word, font=font, fill=(0, 0, 0))
    draw.text(origin, word, font=font, fill=(255, 255, 255))


def render_image(path: str, width: int, height: int, fmt: str, word: str) -> bytes:
    """The picture served at ``path``: ``fmt`` is ``jpeg`` or ``png``."""
    rng = _rng(path)
    canvas = _gradient((width, height), _colour(rng), _colour(rng))
    _shapes(canvas, rng)
    _word(canvas, word)
    out = io.BytesIO()
    if fmt == "jpeg":
        canvas.save(out, format="JPEG", quality=JPEG_QUALITY)
    else:
        canvas.save(out, format="PNG", optimize=False)
    return out.getvalue()


def truncate(data: bytes) -> bytes:
    """Cut an image short, as an interrupted upload leaves it on a real CMS."""
    return data[: int(len(data) * TRUNCATE_FRACTION)]


def render_logo(name: str, colours: tuple[str, str]) -> bytes:
    """The publisher logo (PNG): the site name on its brand colour."""
    canvas = Image.new("RGB", LOGO_SIZE, colours[0])
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=34)
    draw.text((16, 10), name, font=font, fill=colours[1])
    out = io.BytesIO()
    canvas.save(out, format="PNG")
    return out.getvalue()


def silent_mp3(seconds: int) -> bytes:
    """``seconds`` of silence as MPEG audio frames (header + zeroed side information and data)."""
    frames = round(seconds * MP3_FRAMES_PER_SECOND)
    frame = MP3_FRAME_HEADER + bytes(MP3_FRAME_BYTES - len(MP3_FRAME_HEADER))
    return frame * frames


def mp3_length(seconds: int) -> int:
    """Byte length of :func:`silent_mp3` without building it (for the feed's ``enclosure length``)."""
    return round(seconds * MP3_FRAMES_PER_SECOND) * MP3_FRAME_BYTES
