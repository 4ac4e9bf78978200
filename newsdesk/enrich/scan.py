"""Related candidates found by one exact scan of the stored vectors per batch of articles (issue 14, goal 3).

The related stage of a small run searches the in-memory HNSW index the enricher keeps
(:mod:`~newsdesk.enrich.keptindex`): ≈ 1.3 KB an article, so a store of 100,000 articles holds ≈ 130 MB
in the process that relates them, and a one-go run of N articles peaks higher the larger N is. A run of
more articles than one enrichment batch (a first import, a one-go run, a desk's cycle after a long pause),
or of articles older than the kept index's horizon (a backfill), relates its batches by scanning instead:
the stored vectors within the related window of :data:`QUERIES` of the batch's articles are read a chunk
at a time (from the copy the run spills, :class:`~newsdesk.runmemory.SpilledVectors`) and every one of
those articles keeps its best :data:`WIDTH` cosines (:class:`TopScores`), which is as many candidates as
:func:`~newsdesk.enrich.related.relate` ever asks for. Memory is those buffers, ≈ 25 MB, whatever the
store's size; the candidates are exact, not an index's estimate.

The price is CPU: one matrix product of each batch against the window's vectors, so a one-go run of N
undated articles costs N² × dim multiply-adds in all where the index costs N log N searches; the index's
searches were rescored from stored vectors, though, and the scan came out cheaper at 30,000 articles
(figures in docs/benchmarks.md, "Related by scanning").
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from newsdesk.enrich.base import Vectors
from newsdesk.enrich.related import MAX_CANDIDATES

WIDTH = MAX_CANDIDATES + 1
"""Candidates kept for each article: the widest search ``relate`` makes, plus the article itself (its
own vector scores 1.0 and is excluded by the search)."""
SLACK = 2_048
"""Room a row has beyond :data:`WIDTH` before the rows are cut back to it: new scores are appended until
one row would overflow, so the cut (a partition of each row) runs every few chunks, not every chunk."""
CUT_ROWS = 128
"""Rows cut back or offered a chunk at once: the partition of 128 rows of 4,049 makes ≈ 4 MB of index
arrays, and a chunk's scores above the floors of 128 rows at most 128 x 1,024 index pairs."""

QUERIES = 500
"""Articles scanned for at once: a batch of 1,000 is scanned in two parts, each reading the spilled
vectors again (from the page cache), so the scan's buffers are ≈ 16 MB of kept scores and places, not 32."""

IdArray = np.ndarray[Any, np.dtype[np.int64]]


class TopScores:
    """The best :data:`WIDTH` scores of each of ``rows`` queries over every chunk offered, with the places
    (in the order offered) of what scored them.

    Each row holds its candidates unordered in its first ``fill`` places. Once a row has been cut back to
    the width, its floor (the lowest score it keeps) turns away any later score at or below it, so after
    the first few chunks only a small share of each chunk's scores is copied at all. Places are 32-bit
    (a scan of 2**31 vectors is far past what one process would scan), half the size of the ids."""

    def __init__(self, rows: int, width: int = WIDTH, slack: int = SLACK) -> None:
        self.width = width
        self._scores = np.full((rows, width + slack), -np.inf, dtype=np.float32)
        self._places = np.zeros((rows, width + slack), dtype=np.int32)
        self._fill = np.zeros(rows, dtype=np.int64)
        self._floor = np.full(rows, -np.inf, dtype=np.float32)
        self._offered = 0
        self._uniform = True  # no row cut yet: every row holds every score offered

    def offer(self, scores: Vectors) -> None:
        """Take a chunk's ``scores``: one row per query, one column per vector, the vectors numbered on
        from the last chunk's."""
        width = scores.shape[1]
        if width > self._scores.shape[1] - self.width:
            raise ValueError(f"a chunk of {width} is wider than the slack")
        if int(self._fill.max()) + width > self._scores.shape[1]:
            self._cut()
        if self._uniform:  # a block copy, no index arrays
            fill = int(self._fill[0])
            self._scores[:, fill : fill + width] = scores
            self._places[:, fill : fill + width] = np.arange(self._offered, self._offered + width)
            self._fill += width
            self._offered += width
            return
        for start in range(0, len(self._fill), CUT_ROWS):  # a few rows at a time: small index arrays
            self._take(start, scores[start : start + CUT_ROWS])
        self._offered += width

    def _take(self, start: int, scores: Vectors) -> None:
        """The scores of rows ``start`` … above their row's floor, appended to the row."""
        rows, cols = np.nonzero(scores > self._floor[start : start + len(scores), None])
        counts = np.bincount(rows, minlength=len(scores))
        starts = np.cumsum(counts) - counts
        rows_at = rows + start
        places = self._fill[rows_at] + np.arange(len(rows)) - starts[rows]
        self._scores[rows_at, places] = scores[rows, cols]
        self._places[rows_at, places] = cols + self._offered
        self._fill[start : start + len(scores)] += counts

    def best(self, row: int) -> tuple[npt.NDArray[np.int32], Vectors]:
        """The row's kept places and scores, best first (ties: the earlier place first), at most the
        width: once every chunk is offered (:meth:`settle`)."""
        fill = int(self._fill[row])
        return self._places[row, :fill], self._scores[row, :fill]

    def settle(self) -> None:
        """Put every row in order, best first, and cut it back to the width: each row is read twice (its
        first search reads the candidates' metadata, the rules the rest), so it is sorted once here."""
        self._cut()  # first: a partition is cheaper than a sort, which then orders only the width
        columns = min(self.width, int(self._fill.max(initial=0)))
        for start in range(0, len(self._fill), CUT_ROWS):
            rows = slice(start, start + CUT_ROWS)
            scores, places = self._scores[rows, :columns], self._places[rows, :columns]
            order = np.lexsort((places, -scores))
            self._scores[rows, :columns] = np.take_along_axis(scores, order, axis=1)
            self._places[rows, :columns] = np.take_along_axis(places, order, axis=1)

    def _cut(self) -> None:
        """Rows holding more than the width keep their best ``width``; their floor rises to the least of
        them. A few rows at a time, so the partition's index arrays stay small."""
        over = np.flatnonzero(self._fill > self.width)
        self._uniform = False
        for start in range(0, len(over), CUT_ROWS):
            rows = over[start : start + CUT_ROWS]
            keep = np.argpartition(-self._scores[rows], self.width - 1, axis=1)[:, : self.width]
            scores = np.take_along_axis(self._scores[rows], keep, axis=1)
            self._places[rows, : self.width] = np.take_along_axis(self._places[rows], keep, axis=1)
            self._scores[rows, : self.width] = scores
            self._scores[rows, self.width :] = -np.inf
            self._fill[rows] = self.width
            self._floor[rows] = scores.min(axis=1)


class Candidates:
    """One article's scanned candidates (places in the scan and cosines, best first) behind the search
    ``relate`` makes of an index."""

    def __init__(self, places: npt.NDArray[np.int32], scores: Vectors, scanned: IdArray) -> None:
        self._places = places
        self._scores = scores
        self._scanned = scanned  # the id at each place

    def search(self, vector: Vectors, k: int, *, exclude: Collection[int] = ()) -> list[tuple[int, float]]:
        """The first ``k`` kept candidates not in ``exclude`` (``vector`` is the one they were scored for)."""
        if k <= 0:
            return []
        upto = k + len(exclude)
        ids = self._scanned[self._places[:upto]].tolist()
        pairs = zip(ids, self._scores[:upto].tolist(), strict=True)
        return [pair for pair in pairs if pair[0] not in exclude][:k]


class Scanned:
    """A batch's scanned candidates by article id, read out of the scan's buffers as they are asked for
    (as Python pairs, a thousand articles' 2,001 candidates each would be ≈ 200 MB)."""

    def __init__(self, ids: Sequence[int], top: TopScores, scanned: IdArray) -> None:
        self._row = {article_id: n for n, article_id in enumerate(ids)}
        self._top = top
        self._scanned = scanned

    def __getitem__(self, article_id: int) -> Candidates:
        return Candidates(*self._top.best(self._row[article_id]), self._scanned)


def scan(
    ids: Sequence[int],
    matrix: Vectors,
    chunks: Iterable[tuple[list[int], Vectors]],
    width: int = WIDTH,
    slack: int = SLACK,
) -> Scanned:
    """Each of ``ids`` (its unit vector a row of ``matrix``) with its best ``width`` cosines among the
    vectors ``chunks`` yields (ids and unit vectors, at most :data:`SLACK` at a time)."""
    top = TopScores(len(ids), width, slack)
    queries = np.ascontiguousarray(matrix, dtype=np.float32)
    scanned: list[IdArray] = []  # the chunks' ids: 8 bytes a stored vector
    for chunk_ids, vectors in chunks:
        if len(chunk_ids):
            top.offer(queries @ vectors.T)
            scanned.append(np.asarray(chunk_ids, dtype=np.int64))
    top.settle()
    every: IdArray = np.concatenate(scanned) if scanned else np.zeros(0, dtype=np.int64)
    return Scanned(ids, top, every)


__all__ = ["QUERIES", "SLACK", "WIDTH", "Candidates", "Scanned", "TopScores", "scan"]
