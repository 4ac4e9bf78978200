"""Benchmark: the image cache's store path (validate + thumbnail + atomic writes) and its disk cost.

Generates photo-like JPEGs and graphic-like PNGs of realistic article-image sizes, stores each through
``ImageCache.store`` into a temporary cache, and prints images per second and bytes on disk per article
image (original + thumbnail; "disk" counts allocated blocks). A last row times a dedupe hit (the same
bytes from another URL). Run: ``.venv/bin/python bench/images.py [--count N]``.
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image as PILImage
from PIL import ImageDraw, ImageFilter

from newsdesk.extract.images import ImageCache

# (label, format, size): a typical og:image (1200×630), a full-HD hero photo, an infographic PNG.
CASES = (
    ("JPEG 1200×630", "JPEG", (1200, 630)),
    ("JPEG 1920×1080", "JPEG", (1920, 1080)),
    ("PNG 800×600", "PNG", (800, 600)),
)
JPEG_QUALITY = 85  # what CMS image pipelines commonly emit


def _photo(size: tuple[int, int], seed: int) -> PILImage.Image:
    """Smooth colour gradients plus blurred noise: compresses like a photo, not like a flat fill."""
    base = PILImage.linear_gradient("L").resize(size)
    noise = PILImage.frombytes("L", size, os.urandom(size[0] * size[1])).filter(ImageFilter.BoxBlur(2))
    return PILImage.merge("RGB", (base, noise, base.rotate(180 + seed).resize(size)))


def _graphic(size: tuple[int, int], seed: int) -> PILImage.Image:
    """Bars, circles and text drawn at 2× then downsampled (antialiased): compresses like a chart."""
    width, height = size[0] * 2, size[1] * 2
    image = PILImage.new("RGB", (width, height), (246, 244, 238))
    draw = ImageDraw.Draw(image)
    for i in range(12):
        top = (seed * 37 + i * 53) % (height // 2)
        draw.rectangle(
            (i * width // 12 + 6, top, (i + 1) * width // 12 - 6, height - 80), fill=(30 + i * 18, 90, 200)
        )
        draw.ellipse((i * 120 % width, top, i * 120 % width + 90, top + 90), outline=(20, 20, 20), width=4)
        draw.text((i * width // 12 + 10, height - 60), f"Q{i} {seed}", fill=(0, 0, 0), font_size=28)
    return image.resize(size, PILImage.Resampling.LANCZOS)


def _encode(fmt: str, size: tuple[int, int], seed: int) -> bytes:
    image = (_photo if fmt == "JPEG" else _graphic)(size, seed)
    out = io.BytesIO()
    image.save(out, fmt, **({"quality": JPEG_QUALITY} if fmt == "JPEG" else {"optimize": True}))
    return out.getvalue()


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _disk_use(cache: ImageCache, sha: str) -> tuple[int, int, int]:
    original, thumb = cache.path_for(sha), cache.thumbnail_for(sha)
    assert original is not None and thumb is not None
    blocks = (original.stat().st_blocks + thumb.stat().st_blocks) * 512
    return original.stat().st_size, thumb.stat().st_size, blocks


def _row(label: str, bodies: list[bytes], root: Path) -> None:
    cache = ImageCache(root)
    seconds = [_timed(functools.partial(cache.store, "https://example.com/first", body)) for body in bodies]
    uses = [_disk_use(cache, cache.store("https://example.com/again", b).sha256 or "") for b in bodies]
    hit = statistics.median(
        _timed(functools.partial(cache.store, "https://other.example/x", b)) for b in bodies
    )
    orig, thumb, disk = (statistics.mean(u[k] for u in uses) / 1000 for k in range(3))
    rate = len(bodies) / sum(seconds)
    print(f"{label:<16} {rate:>9.1f} {1 / hit:>11.0f} {orig:>9.1f} {thumb:>9.1f} {disk:>9.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20, help="images per case")
    args = parser.parse_args()
    print(f"{'case':<16} {'images/s':>9} {'dedupe/s':>11} {'orig KB':>9} {'thumb KB':>9} {'disk KB':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, fmt, size in CASES:
            bodies = [_encode(fmt, size, seed) for seed in range(args.count)]
            _row(label, bodies, Path(tmp) / label.replace(" ", "_"))


if __name__ == "__main__":
    main()
