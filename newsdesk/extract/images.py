"""The image cache: article images downloaded once, checked, stored by content, thumbnailed, evicted LRU.

Why a cache: a record's ``images`` carry ``width``/``height``/``isCached``, and the dimensions must come
from the file itself (page markup lies or says nothing). Keeping the file also lets the web UI and exports
show images when the publisher has moved or removed them.

Flow of :meth:`ImageCache.cache`: fetch through the shared polite fetcher → :meth:`ImageCache.store`:

1. refuse the obvious non-images before any parser sees them: empty body, over ``max_image_bytes``, SVG
   (it can carry script and we do not rasterise it), HTML or other markup served as an image;
2. content address: ``sha256`` of the bytes; an image already in the cache (same bytes from any URL) is
   only touched — identical images across articles are stored once;
3. Pillow, limited to web raster formats: ``open`` reads the header only, so the pixel count is checked
   against ``max_pixels`` before anything is decoded (a 30000×30000 bomb is refused without allocating
   it); ``verify()`` checks the structure; a reopen decodes the first frame into the thumbnail, which also
   catches truncated files;
4. write the thumbnail, then the original, each atomically (temp file + fsync + rename), at
   ``root/ab/cd/<sha256>.<ext>`` and ``root/ab/cd/<sha256>.thumb.jpg``. The original is written last, so
   "the original exists" implies the entry is complete; ``is_cached`` is true only then.

Recency for LRU is the files' mtime: every hit touches it. The cache bounds itself on ``store``: when a
write takes it past ``max_bytes`` (the total is scanned on the first write after start, so a lowered
setting applies then), the least recently used entries go first, down to ``AUTO_EVICT_TO`` of it, and
stale temp files with them. Failures are :class:`~newsdesk.errors.ImageError`
from ``store``; ``cache`` never raises for a bad image or a failed fetch, it returns
``Image(url, is_cached=False, error="<kind>: <reason>")``.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import math
import os
import re
import secrets
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image as PILImage
from PIL import ImageOps

from newsdesk import model
from newsdesk.errors import FetchError, ImageError
from newsdesk.fetch.client import Fetcher
from newsdesk.fetch.sniff import SVG_REFUSED

log = logging.getLogger(__name__)

# Pillow format → file extension. Only web raster formats: Pillow can parse many more (EPS would even run
# Ghostscript), and every extra parser is attack surface for bytes from the open web.
EXTENSIONS = {
    "JPEG": "jpg",
    "MPO": "jpg",
    "PNG": "png",
    "GIF": "gif",
    "WEBP": "webp",
    "AVIF": "avif",
    "BMP": "bmp",
}
OPEN_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "AVIF", "BMP")  # MPO is reached through the JPEG opener
THUMB_SUFFIX = ".thumb.jpg"
THUMB_QUALITY = 80  # JPEG quality: Pillow's default 75 shows blocking on text in 400 px thumbnails
THUMB_BACKGROUND = (255, 255, 255)  # transparent images are flattened onto white (thumbnails are JPEG)
SNIFF_BYTES = 1024  # how far to look for markup (<svg, <html) at the start of a body
STALE_TMP_S = 3600.0  # a temp file this old was left by a crashed writer; eviction removes it
AUTO_EVICT_TO = 0.9  # store() evicts down to 90% of max_bytes so it does not rescan the cache on every write
SHA256_RE = re.compile(r"[0-9a-f]{64}")
EXIF_ORIENTATION = 0x0112
ROTATED_ORIENTATIONS = (5, 6, 7, 8)  # EXIF orientations that swap width and height on display
# What Pillow's parsers raise on hostile or broken input (each plugin has its own habits).
PIL_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error)


@dataclass(frozen=True, slots=True)
class CacheStats:
    """What the cache holds on disk: ``files`` (originals + thumbnails) and their total ``bytes``."""

    files: int
    bytes: int


@dataclass(frozen=True, slots=True)
class _Decoded:
    """An image that passed every check: its format, display size and thumbnail bytes."""

    format: str
    width: int
    height: int
    thumbnail: bytes


@dataclass(frozen=True, slots=True)
class _Entry:
    """One cached image on disk (original + thumbnail) for eviction."""

    sha256: str
    last_used: float
    size: int
    paths: tuple[Path, ...]


class ImageCache:
    """A content-addressed image cache under ``root``; safe to share between threads and processes
    (every write is an atomic rename; concurrent writers of the same image write the same bytes)."""

    def __init__(
        self,
        root: Path,
        *,
        max_bytes: int = 2_000_000_000,
        thumb_width: int = 400,
        max_pixels: int = 50_000_000,
        max_image_bytes: int = 15_000_000,
    ) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.thumb_width = thumb_width
        self.max_pixels = max_pixels
        self.max_image_bytes = max_image_bytes
        self._lock = threading.Lock()
        self._bytes: int | None = None  # running total, scanned lazily on the first store

    # --- public API -----------------------------------------------------------------------------

    def store(self, url: str, content: bytes, content_type: str | None = None) -> model.Image:
        """Validate ``content`` as an image and cache it; ImageError (naming ``url``) if it is not one."""
        self._precheck(url, content, content_type)
        sha = hashlib.sha256(content).hexdigest()
        existing = self.path_for(sha)  # touches it: a dedupe hit counts as a use
        if existing is not None:
            width, height = self._size_of(existing, url)
            return model.Image(url=url, width=width, height=height, is_cached=True, sha256=sha)
        decoded = self._decode(url, content)
        original = self._shard(sha) / f"{sha}.{EXTENSIONS[decoded.format]}"
        _write_atomic(original.with_name(sha + THUMB_SUFFIX), decoded.thumbnail)
        _write_atomic(original, content)
        log.debug("image cached", extra={"url": url, "sha256": sha, "bytes": len(content)})
        self._account(len(content) + len(decoded.thumbnail), keep=sha)
        return model.Image(url=url, width=decoded.width, height=decoded.height, is_cached=True, sha256=sha)

    async def cache(self, url: str, fetcher: Fetcher, *, allow_private: bool = False) -> model.Image:
        """Fetch ``url`` and store it. Never raises for a failed fetch or a bad image: the result then
        has ``is_cached=False`` and ``error`` says why. Decoding runs in a worker thread."""
        try:
            fetched = await fetcher.get(url, allow_private=allow_private, expect="image")
            return await asyncio.to_thread(self.store, url, fetched.content, fetched.content_type)
        except (FetchError, ImageError) as e:
            log.info("image not cached", extra={"url": url, "error_kind": e.kind, "error": str(e)})
            return model.Image(url=url, is_cached=False, error=f"{e.kind}: {e}")

    def path_for(self, sha256: str) -> Path | None:
        """The cached original for ``sha256`` (touched: it counts as a use), or None."""
        return self._touch(self._original(sha256))

    def thumbnail_for(self, sha256: str) -> Path | None:
        """The cached thumbnail for ``sha256`` (touched: it counts as a use), or None."""
        if not SHA256_RE.fullmatch(sha256):
            return None
        return self._touch(self._shard(sha256) / (sha256 + THUMB_SUFFIX))

    def stats(self) -> CacheStats:
        files = [path.stat().st_size for path in self._walk() if not path.name.startswith(".")]
        return CacheStats(files=len(files), bytes=sum(files))

    # --- checks and decoding --------------------------------------------------------------------

    def _precheck(self, url: str, content: bytes, content_type: str | None) -> None:
        """Refuse what needs no parser to refuse, with a reason a person can act on."""
        served = f" (served as {content_type})" if content_type else ""
        if not content:
            raise ImageError(f"empty body{served}", url=url)
        if len(content) > self.max_image_bytes:
            raise ImageError(
                f"{len(content):,} bytes is over the {self.max_image_bytes:,}-byte limit", url=url
            )
        head = content[:SNIFF_BYTES].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
        is_markup = head.startswith(b"<")  # no raster format starts with "<"; binary may contain "<svg"
        if (is_markup and b"<svg" in head) or (content_type or "").lower().startswith("image/svg"):
            raise ImageError(f"{SVG_REFUSED}: it can carry script and is not rasterised{served}", url=url)
        if is_markup:
            raise ImageError(f"body is HTML/XML markup, not an image{served}", url=url)

    def _decode(self, url: str, content: bytes) -> _Decoded:
        try:
            with _open(content) as probe:
                fmt, (width, height) = probe.format or "", probe.size
                self._check_pixels(url, width, height)
                probe.verify()
            with _open(content) as image:
                display = _display_size(image)
                thumb = self._thumbnail(image, display)
        except PILImage.DecompressionBombError as e:
            raise ImageError(f"refused: too many pixels ({e})", url=url) from e
        except PIL_ERRORS as e:
            raise ImageError(f"not a readable image: {e}", url=url) from e
        if fmt not in EXTENSIONS:
            raise ImageError(f"unsupported image format {fmt!r}", url=url)
        return _Decoded(format=fmt, width=display[0], height=display[1], thumbnail=thumb)

    def _check_pixels(self, url: str, width: int, height: int) -> None:
        if width <= 0 or height <= 0:
            raise ImageError(f"image has no pixels ({width}×{height})", url=url)
        if width * height > self.max_pixels:
            raise ImageError(
                f"refused: {width}×{height} is over the {self.max_pixels:,}-pixel limit", url=url
            )

    def _thumbnail(self, image: PILImage.Image, display: tuple[int, int]) -> bytes:
        """A JPEG ``thumb_width`` wide (never upscaled), aspect kept, EXIF orientation applied."""
        scale = min(1.0, self.thumb_width / display[0])
        # JPEG only: decode at 1/2, 1/4 or 1/8 scale straight away, far cheaper than a full decode.
        image.draft("RGB", (math.ceil(image.width * scale), math.ceil(image.height * scale)))
        frame = ImageOps.exif_transpose(image) if _orientation(image) != 1 else image
        frame.load()  # decodes the first frame: a truncated or corrupt body fails here
        target = (min(self.thumb_width, display[0]), max(1, round(display[1] * scale)))
        frame = _flatten(frame).resize(target, PILImage.Resampling.LANCZOS, reducing_gap=2.0)
        out = io.BytesIO()
        frame.save(out, "JPEG", quality=THUMB_QUALITY, optimize=True)
        return out.getvalue()

    def _size_of(self, path: Path, url: str) -> tuple[int, int]:
        """Display size of an already-cached file (header only)."""
        try:
            with PILImage.open(path, formats=OPEN_FORMATS) as image:
                return _display_size(image)
        except (*PIL_ERRORS, PILImage.DecompressionBombError) as e:
            raise ImageError(f"cached file {path.name} is unreadable: {e}", url=url) from e

    # --- disk layout, LRU and eviction ----------------------------------------------------------

    def _shard(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4]

    def _original(self, sha256: str) -> Path | None:
        if not SHA256_RE.fullmatch(sha256):  # also keeps "../" and friends out of the path
            return None
        for ext in dict.fromkeys(EXTENSIONS.values()):
            path = self._shard(sha256) / f"{sha256}.{ext}"
            if path.exists():
                return path
        return None

    @staticmethod
    def _touch(path: Path | None) -> Path | None:
        if path is None:
            return None
        try:
            os.utime(path)
        except FileNotFoundError:  # evicted between the lookup and now
            return None
        return path

    def _account(self, added: int, *, keep: str) -> None:
        with self._lock:
            if self._bytes is None:
                self._bytes = self.stats().bytes
            else:
                self._bytes += added
            over = self._bytes > self.max_bytes
        if over:
            self._evict_to(int(self.max_bytes * AUTO_EVICT_TO), keep=keep)

    def _evict_to(self, target: int, *, keep: str | None) -> int:
        entries = sorted(self._entries(), key=lambda e: (e.last_used, e.sha256))
        total, freed = sum(e.size for e in entries), 0
        for entry in entries:
            if total - freed <= target:
                break
            if entry.sha256 != keep:
                freed += _remove(entry.paths)
        with self._lock:
            self._bytes = total - freed
        if freed:
            log.info("image cache evicted", extra={"bytes_freed": freed, "bytes_kept": total - freed})
        return freed

    def _entries(self) -> Iterator[_Entry]:
        """Cached images grouped by sha256; stale temp files are removed on the way."""
        groups: dict[str, list[tuple[Path, os.stat_result]]] = {}
        for path in self._walk():
            info = path.stat()
            if path.name.startswith("."):
                if time.time() - info.st_mtime > STALE_TMP_S:
                    path.unlink(missing_ok=True)
                continue
            groups.setdefault(path.name[:64], []).append((path, info))
        for sha, files in groups.items():
            last_used = max(info.st_mtime for _, info in files)
            size = sum(info.st_size for _, info in files)
            yield _Entry(sha256=sha, last_used=last_used, size=size, paths=tuple(p for p, _ in files))

    def _walk(self) -> Iterator[Path]:
        if not self.root.is_dir():
            return
        for first in _subdirs(self.root):
            for second in _subdirs(first):
                yield from (Path(e.path) for e in os.scandir(second) if e.is_file(follow_symlinks=False))


def _open(content: bytes) -> PILImage.Image:
    return PILImage.open(io.BytesIO(content), formats=OPEN_FORMATS)


def _orientation(image: PILImage.Image) -> int:
    """The EXIF orientation (1 = as stored). Only EXIF already read with the header counts: asking a PNG
    for ``getexif()`` would decode the whole image to look for a late eXIf chunk."""
    if "exif" not in image.info:
        return 1
    value = image.getexif().get(EXIF_ORIENTATION, 1)
    return value if isinstance(value, int) else 1


def _display_size(image: PILImage.Image) -> tuple[int, int]:
    """Width and height as shown: EXIF orientations 5–8 swap them (browsers honour EXIF orientation)."""
    if _orientation(image) in ROTATED_ORIENTATIONS:
        return image.height, image.width
    return image.width, image.height


def _flatten(frame: PILImage.Image) -> PILImage.Image:
    """RGB for JPEG: palette and alpha images are composited onto a white background."""
    if frame.mode in ("RGB", "L"):
        return frame
    rgba = frame.convert("RGBA")
    background = PILImage.new("RGB", rgba.size, THUMB_BACKGROUND)
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _write_atomic(path: Path, data: bytes) -> None:
    """Temp file beside ``path`` + fsync + rename: readers see the whole file or none of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with tmp.open("xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ImageError(f"cannot write {path}: {e.strerror}") from e


def _remove(paths: tuple[Path, ...]) -> int:
    freed = 0
    for path in paths:
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:  # another process evicted it first
            continue
        freed += size
    return freed


def _subdirs(path: Path) -> list[Path]:
    return [Path(e.path) for e in os.scandir(path) if e.is_dir(follow_symlinks=False) and len(e.name) == 2]
