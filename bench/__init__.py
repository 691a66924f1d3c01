"""Benchmarks: each module compares jikimi with its peer library in one run.

Run ``python -m bench.<name> [--quick]``; the last line printed is one JSON object
with at least ``name``, ``ours_ms``, ``peer_ms`` and ``speedup`` (= peer / ours).
"""
