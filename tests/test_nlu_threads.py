"""Training and prediction hold every BLAS thread pool to one thread, including SciPy's own
OpenBLAS: left at every core, its busy-waiting threads made logistic fits 5-13x slower on a
2-core machine (docs/benchmarks.md, "Intent understanding (issue 12)"). Serving holds
NumPy's pool without importing SciPy, which it does not need (``nlu/model_arrays.py``)."""

from __future__ import annotations

import subprocess
import sys

# In a fresh interpreter: the controller must find SciPy's pool even when nothing has
# imported SciPy or scikit-learn before the first limit (as in ``smartsupport nlu train``).
PROBE = """
import sys
from smartsupport.nlu.classifier import single_blas_thread
from threadpoolctl import threadpool_info

with single_blas_thread(training={training}):
    pools = [p for p in threadpool_info() if p["user_api"] == "blas"]
    print(len({{p["filepath"] for p in pools}}), max(p["num_threads"] for p in pools),
          "scipy" in sys.modules)
"""


def probe(training: bool) -> tuple[int, int, bool]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(training=training)],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    libraries, threads, scipy = done.stdout.split()
    return int(libraries), int(threads), scipy == "True"


def test_the_first_training_limit_holds_scipys_own_blas_pool_too() -> None:
    libraries, threads, _ = probe(training=True)
    assert libraries >= 2  # NumPy's and SciPy's OpenBLAS builds are distinct libraries
    assert threads == 1


def test_the_serving_limit_holds_numpys_pool_without_importing_scipy() -> None:
    libraries, threads, scipy = probe(training=False)
    assert (libraries, threads, scipy) == (1, 1, False)
