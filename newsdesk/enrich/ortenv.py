"""ONNX Runtime, imported with its usage telemetry off.

Since 1.29, ONNX Runtime's wheels for Linux and macOS report usage to Microsoft (its 1DS provider): an
event when a process starts the runtime, then session, model and performance events, with a device id
kept under ``~/.cache/Microsoft/DeveloperTools/.onnxruntime`` and a queue of events beside it for when the
uploader cannot reach its server. Seen here: 32 events queued by one session's runs of newsdesk. A
self-hosted news desk talks to the sources it was given and to nobody else, so newsdesk sets
``ORT_DISABLE_TELEMETRY=1`` before the runtime starts; the runtime reads it once a process and then makes
no uploader, no device id and no queue. An operator who set the variable keeps their choice.
"""

from __future__ import annotations

import os
from typing import Any

TELEMETRY_VARIABLE = "ORT_DISABLE_TELEMETRY"


def onnxruntime() -> Any:
    """The ``onnxruntime`` module (untyped, hence ``Any``), its telemetry off unless the operator set
    :data:`TELEMETRY_VARIABLE`."""
    os.environ.setdefault(TELEMETRY_VARIABLE, "1")
    import onnxruntime as ort

    return ort


__all__ = ["TELEMETRY_VARIABLE", "onnxruntime"]
