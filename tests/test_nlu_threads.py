"""Training and prediction hold every BLAS thread pool to one thread, including SciPy's own
OpenBLAS: left at every core, its busy-waiting threads made logistic fits 5-13x slower on a
2-core machine (docs/benchmarks.md, "Intent understanding (issue 12)")."""

from __future__ import annotations

import subprocess
import sys

# In a fresh interpreter: the controller must find SciPy's pool even when nothing has
# imported SciPy or scikit-learn before the first limit (as in ``smartsupport nlu train``).
PROBE = """
from smartsupport.nlu.classifier import single_blas_thread
from threadpoolctl import threadpool_info

with single_blas_thread():
    pools = [p for p in threadpool_info() if p["user_api"] == "blas"]
    print(len({p["filepath"] for p in pools}), max(p["num_threads"] for p in pools))
"""


def test_the_first_limit_holds_scipys_own_blas_pool_too() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    libraries, threads = (int(v) for v in done.stdout.split())
    assert libraries >= 2  # NumPy's and SciPy's OpenBLAS builds are distinct libraries
    assert threads == 1
