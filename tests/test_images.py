"""Tests for newsdesk.extract.images: validation, content addressing, thumbnails, LRU eviction."""

from __future__ import annotations

import asyncio
import hashlib
import io
import math
import os
import resource
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image as PILImage

from newsdesk.app import Newsdesk
from newsdesk.config import load_settings
from newsdesk.errors import ImageError
from newsdesk.extract.images import AUTO_EVICT_TO, ImageCache
from newsdesk.fetch.client import Fetcher, FetchPolicy
from newsdesk.model import Image
from tests.conftest import quiet_env
from tests.httpserver import LoopbackServer, Reply

URL = "https://example.com/img/a.jpg"


def _image(fmt: str, size: tuple[int, int], mode: str = "RGB", **save: object) -> bytes:
    """A generated image with some structure (a gradient), encoded as ``fmt``."""
    width, height = size
    image = PILImage.linear_gradient("L").resize(size).convert(mode)
    if mode == "RGB":
        image = PILImage.merge(
            "RGB", (image.getchannel(0), image.getchannel(0).rotate(90), image.getchannel(0))
        )
    out = io.BytesIO()
    image.save(out, fmt, **save)
    assert image.size == (width, height)
    return out.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A real PNG whose IHDR claims ``width``×``height`` but whose body is a few hundred bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    idat = zlib.compress(b"\x00" * (width + 1) * 4)  # four rows of zeros, then nothing
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _noise_png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    PILImage.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def cache(tmp_path: Path) -> ImageCache:
    return ImageCache(tmp_path / "images")


@pytest.mark.parametrize(
    ("fmt", "mode", "ext"),
    [
        ("JPEG", "RGB", "jpg"),
        ("JPEG", "L", "jpg"),
        ("JPEG", "CMYK", "jpg"),
        ("PNG", "RGBA", "png"),
        ("PNG", "P", "png"),
        ("PNG", "I;16", "png"),
        ("GIF", "P", "gif"),
        ("WEBP", "RGB", "webp"),
        ("BMP", "RGB", "bmp"),
    ],
)
def test_formats_are_cached_with_their_own_size(cache: ImageCache, fmt: str, mode: str, ext: str) -> None:
    content = _image(fmt, (835, 526), mode)
    image = cache.store(URL, content, f"image/{fmt.lower()}")
    assert (image.width, image.height, image.is_cached) == (835, 526, True)
    assert image.sha256 == hashlib.sha256(content).hexdigest()
    path = cache.path_for(image.sha256)
    assert path is not None and path.suffix == f".{ext}" and path.read_bytes() == content
    assert path.relative_to(cache.root).parts[:2] == (image.sha256[:2], image.sha256[2:4])
    thumb = cache.thumbnail_for(image.sha256)
    assert thumb is not None
    with PILImage.open(thumb) as t:
        assert (t.format, t.size) == ("JPEG", (400, 252))


def test_narrow_image_is_not_upscaled(cache: ImageCache) -> None:
    image = cache.store(URL, _image("PNG", (120, 80)))
    thumb = cache.thumbnail_for(image.sha256 or "")
    assert thumb is not None
    with PILImage.open(thumb) as t:
        assert t.size == (120, 80)


def test_custom_thumb_width_keeps_aspect(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path, thumb_width=200)
    image = cache.store(URL, _image("JPEG", (1600, 1200)))
    thumb = cache.thumbnail_for(image.sha256 or "")
    assert thumb is not None
    with PILImage.open(thumb) as t:
        assert t.size == (200, 150)


def test_exif_rotation_swaps_display_size(cache: ImageCache) -> None:
    exif = PILImage.Exif()
    exif[0x0112] = 6  # rotate 90° CW on display
    image = cache.store(URL, _image("JPEG", (800, 600), exif=exif.tobytes()))
    assert (image.width, image.height) == (600, 800)
    with PILImage.open(cache.thumbnail_for(image.sha256 or "") or "") as t:
        assert t.size == (400, 533)


def test_animated_gif_keeps_first_frame_size(cache: ImageCache) -> None:
    frames = [PILImage.new("P", (320, 200), color) for color in (1, 50, 200)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    image = cache.store(URL, out.getvalue(), "image/gif")
    assert (image.width, image.height, image.is_cached) == (320, 200, True)


def test_pixel_bomb_header_is_refused_without_decoding(cache: ImageCache) -> None:
    bomb = _png_header_only(30_000, 30_000)
    assert len(bomb) < 2_000
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ImageError, match="refused: too many pixels"):
        cache.store(URL, bomb, "image/png")
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
    assert grown_kib < 100_000  # decoding 900 Mpx would need ≥ 900 MB
    assert cache.stats().files == 0


def test_over_max_pixels_is_refused(cache: ImageCache) -> None:
    with pytest.raises(ImageError, match="8000×8000 is over the 50,000,000-pixel limit"):
        cache.store(URL, _png_header_only(8_000, 8_000))


SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


@pytest.mark.parametrize("content_type", ["image/svg+xml", "image/png", None])
def test_svg_is_refused(cache: ImageCache, content_type: str | None) -> None:
    with pytest.raises(ImageError, match="SVG refused"):
        cache.store(URL, SVG, content_type)


def test_html_served_as_jpeg_is_refused(cache: ImageCache) -> None:
    html = b"\n<!DOCTYPE html><html><head><title>404 Not Found</title></head><body>gone</body></html>"
    with pytest.raises(ImageError, match=r"HTML/XML markup, not an image \(served as image/jpeg\)"):
        cache.store(URL, html, "image/jpeg")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty body"),
        (b"\x00\x01garbage bytes that no decoder knows" * 10, "not a readable image"),
        (_image("JPEG", (800, 600))[:3000], "not a readable image"),
        (_image("PNG", (800, 600))[:-40], "not a readable image"),
        (_image("GIF", (400, 300), "P")[:200], "not a readable image"),
    ],
    ids=["empty", "garbage", "truncated-jpeg", "truncated-png", "truncated-gif"],
)
def test_broken_bodies_are_refused(cache: ImageCache, content: bytes, reason: str) -> None:
    with pytest.raises(ImageError, match=reason) as info:
        cache.store(URL, content, "image/jpeg")
    assert info.value.url == URL
    assert cache.stats().files == 0


def test_too_many_bytes_is_refused(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path, max_image_bytes=1_000)
    with pytest.raises(ImageError, match="over the 1,000-byte limit"):
        cache.store(URL, _noise_png(100, 100))


def test_identical_images_are_stored_once(cache: ImageCache) -> None:
    content = _image("JPEG", (640, 480))
    first = cache.store("https://a.example/x.jpg", content)
    second = cache.store("https://b.example/other-name.jpeg?w=640", content)
    assert first.sha256 == second.sha256
    assert (second.url, second.width, second.height, second.is_cached) == (
        "https://b.example/other-name.jpeg?w=640",
        640,
        480,
        True,
    )
    assert cache.stats().files == 2  # one original + one thumbnail


def test_bad_sha_never_escapes_the_root(cache: ImageCache) -> None:
    cache.store(URL, _image("PNG", (50, 50)))
    assert cache.path_for("../../etc/passwd") is None
    assert cache.thumbnail_for("0" * 63 + "/") is None
    assert cache.path_for("f" * 64) is None


def _age(cache: ImageCache, sha: str, seconds_ago: float) -> None:
    """Set both files of an entry to a past last-use time (no sleeping in tests)."""
    original, thumb = cache.path_for(sha), cache.thumbnail_for(sha)
    assert original is not None and thumb is not None
    when = original.stat().st_mtime - seconds_ago
    for path in (original, thumb):
        os.utime(path, (when, when))


def test_eviction_removes_least_recently_used_first(tmp_path: Path) -> None:
    big = ImageCache(tmp_path)
    shas = [big.store(URL, _image("PNG", (300 + i, 200))).sha256 or "" for i in range(3)]
    for age, sha in zip((300, 200, 100), shas, strict=True):  # shas[0] is the oldest
        _age(big, sha, age)
    big.path_for(shas[0])  # ...but is used now, so shas[1] becomes the least recently used
    sizes = {
        sha: sum(p.stat().st_size for p in (big.path_for(sha), big.thumbnail_for(sha)) if p) for sha in shas
    }
    newest = _image("PNG", (400, 200))
    measured = ImageCache(tmp_path / "scratch").store(URL, newest)
    newest_size = ImageCache(tmp_path / "scratch").stats().bytes
    kept = sizes[shas[0]] + sizes[shas[2]] + newest_size
    # Room for all but shas[1] once store() has evicted down to AUTO_EVICT_TO of the budget.
    small = ImageCache(tmp_path, max_bytes=math.ceil(kept / AUTO_EVICT_TO) + 1)
    assert small.store(URL, newest).sha256 == measured.sha256
    assert small.path_for(shas[1]) is None and small.thumbnail_for(shas[1]) is None
    assert small.path_for(shas[0]) is not None and small.path_for(shas[2]) is not None
    assert small.path_for(measured.sha256 or "") is not None
    assert small.stats().bytes == kept <= small.max_bytes


def test_store_evicts_automatically_but_keeps_the_new_image(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path, max_bytes=1)  # everything is over budget
    first = cache.store(URL, _image("PNG", (200, 200)))
    second = cache.store(URL, _image("PNG", (210, 200)))
    assert cache.path_for(first.sha256 or "") is None
    assert second.is_cached and cache.path_for(second.sha256 or "") is not None


def test_the_image_cache_max_bytes_setting_bounds_the_desks_cache(tmp_path: Path) -> None:
    """The bound is the product's, not only the class's: the facade's cache takes it from the settings."""
    settings = load_settings(env=quiet_env(tmp_path, NEWSDESK_IMAGE_CACHE_MAX_BYTES="1"), base_dir=tmp_path)
    cache = Newsdesk(settings).images
    first = cache.store(URL, _image("PNG", (200, 200)))
    second = cache.store(URL, _image("PNG", (210, 200)))
    assert cache.path_for(first.sha256 or "") is None
    assert second.is_cached and cache.path_for(second.sha256 or "") is not None
    assert Newsdesk(load_settings(env=quiet_env(tmp_path), base_dir=tmp_path)).images.max_bytes > 1


def test_is_cached_matches_the_file(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path)
    image = cache.store(URL, _image("JPEG", (500, 300)))
    assert image.is_cached and cache.path_for(image.sha256 or "") is not None
    ImageCache(tmp_path, max_bytes=1).store(URL, _image("PNG", (64, 64)))  # evicts all but its own
    assert cache.path_for(image.sha256 or "") is None
    again = cache.store(URL, _image("JPEG", (500, 300)))  # re-cached after eviction
    assert again.is_cached and cache.path_for(again.sha256 or "") is not None


def test_stale_temp_files_are_cleaned(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path)
    image = cache.store(URL, _image("PNG", (64, 64)))
    shard = (cache.path_for(image.sha256 or "") or tmp_path).parent
    stale, fresh = shard / ".x.png.aaaa.tmp", shard / ".y.png.bbbb.tmp"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"in progress")
    os.utime(stale, (0, 0))
    ImageCache(tmp_path, max_bytes=1).store(URL, _image("PNG", (65, 65)))  # a write that evicts
    assert not stale.exists() and fresh.exists()
    assert cache.stats().files == 2  # the new image's original and thumbnail


def test_empty_cache_stats(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path / "missing")
    assert (cache.stats().files, cache.stats().bytes) == (0, 0)


# --- cache(): through the real fetcher, over a real loopback server ------------------------------------


def _cache_all(cache: ImageCache, urls: list[str], policy: FetchPolicy, allow_private: bool) -> list[Image]:
    async def main() -> list[Image]:
        async with Fetcher(policy) as fetcher:
            return [await cache.cache(url, fetcher, allow_private=allow_private) for url in urls]

    return asyncio.run(main())


JPEG_BODY = _image("JPEG", (835, 526))
ROUTES = {
    "/photo.jpg": Reply(body=JPEG_BODY, content_type="image/jpeg"),
    "/same-photo": Reply(body=JPEG_BODY, content_type="image/jpeg"),
    "/logo.svg": Reply(body=SVG, content_type="image/svg+xml"),
    "/svg-labelled.png": Reply(body=SVG, content_type="image/png"),
    "/soft-404.jpg": Reply(
        body=b"<!DOCTYPE html><html><body>not here</body></html>", content_type="image/jpeg"
    ),
    "/cut.jpg": Reply(body=JPEG_BODY[:2500], content_type="image/jpeg"),
}
LOOPBACK_POLICY = FetchPolicy(
    per_host_delay=0.0, respect_robots=False, connect_timeout=2.0, total_timeout=5.0
)


def test_cache_fetches_and_stores_once(cache: ImageCache) -> None:
    with LoopbackServer(ROUTES) as server:
        urls = [server.url("/photo.jpg"), server.url("/same-photo")]
        first, second = _cache_all(cache, urls, LOOPBACK_POLICY, allow_private=True)
    assert (first.width, first.height, first.is_cached, first.url) == (835, 526, True, urls[0])
    assert second.is_cached and second.sha256 == first.sha256 == hashlib.sha256(JPEG_BODY).hexdigest()
    assert cache.stats().files == 2


@pytest.mark.parametrize(
    ("path", "error"),
    [
        # An SVG, by type or by its bytes, is named as such: publishable_images drops it on that mark.
        ("/logo.svg", "content-type: expected image: SVG refused (served as image/svg+xml)"),
        ("/svg-labelled.png", "content-type: expected image: SVG refused (served as image/png)"),
        ("/soft-404.jpg", "content-type: expected image: no raster image signature"),
        ("/cut.jpg", "image: not a readable image"),
        ("/missing.png", "http-404: "),
    ],
)
def test_cache_never_raises_for_bad_images(cache: ImageCache, path: str, error: str) -> None:
    with LoopbackServer(ROUTES) as server:
        (image,) = _cache_all(cache, [server.url(path)], LOOPBACK_POLICY, allow_private=True)
    assert not image.is_cached and image.width is None and image.sha256 is None
    assert image.error is not None and image.error.startswith(error)
    assert cache.stats().files == 0


def test_cache_respects_the_ssrf_guard_unless_allowed(cache: ImageCache) -> None:
    with LoopbackServer(ROUTES) as server:
        (blocked,) = _cache_all(cache, [server.url("/photo.jpg")], LOOPBACK_POLICY, allow_private=False)
    assert not blocked.is_cached and (blocked.error or "").startswith("blocked: ")
