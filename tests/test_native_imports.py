"""Native libraries loaded in the order a run loads them do not crash the process.

usearch's extension carries its own static libstdc++; onnxruntime imported after it segfaulted unless
something had loaded the shared C++ runtime first (scikit-learn used to, when it was imported by every
run). ``vectors._usearch_index`` now loads it; each case runs in a fresh interpreter, since the crash
kills the process and the order of first imports is what matters."""

from __future__ import annotations

import subprocess
import sys

ANN_THEN_ORT = """
import threading
from newsdesk.enrich.vectors import AnnIndex
AnnIndex(8)
worker = threading.Thread(target=lambda: __import__("onnxruntime"))  # as the enrichment thread does
worker.start()
worker.join()
print("ok")
"""


def test_the_vector_index_then_the_embedding_runtime_load_in_one_process() -> None:
    done = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", ANN_THEN_ORT],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr[-2000:]
