"""onnxruntime session options shared by the grade models (the detector and the context stage)."""

from __future__ import annotations

import os
from typing import Any


def session_options(ort: Any, threads: int) -> Any:
    """onnxruntime options for a CPU session with ``threads`` intra-op threads (0 = all cores).

    The thread count is always explicit and the pool never spins. With 0,
    onnxruntime pins one thread per core and busy-waits between operators,
    which is fastest on an idle machine and slowest on a busy one: on the
    shared 2-core machine, one 320 x 320 inference took 290-360 ms with the
    defaults (NudeNet's) and 120-230 ms with two unpinned, non-spinning threads
    at the same moment (docs/grading.md, "Speed").
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads if threads > 0 else available_cores()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_per_process(processes: int) -> int:
    """Intra-op threads for each of ``processes`` processes sharing this machine's cores:
    "auto" in each would oversubscribe it (``jikimi serve --workers``). Counted as
    "auto" counts them (:func:`available_cores`), so a share never exceeds the whole."""
    return max(1, available_cores() // processes)
