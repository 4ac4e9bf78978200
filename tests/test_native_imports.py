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


ANN_THEN_SENTENCEPIECE = """
import threading
from newsdesk.enrich.vectors import AnnIndex
AnnIndex(8)
def enrich():
    from newsdesk.enrich.multilingual import load_use
    import onnxruntime
    assert load_use().tokenizer == "sentencepiece"
worker = threading.Thread(target=enrich)  # as the enrichment thread loads its models
worker.start()
worker.join()
print("ok")
"""


def _runs_to_the_end(script: str) -> None:
    done = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", script], capture_output=True, text=True, timeout=300
    )
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr[-2000:]


def test_the_vector_index_then_the_embedding_runtime_load_in_one_process() -> None:
    _runs_to_the_end(ANN_THEN_ORT)


def test_the_use_tokenizer_library_loads_beside_the_other_native_ones() -> None:
    """sentencepiece's extension (USE's tokenizer) after the vector index, with onnxruntime, in a
    run's order: it must not be another case of the crash above."""
    _runs_to_the_end(ANN_THEN_SENTENCEPIECE)
