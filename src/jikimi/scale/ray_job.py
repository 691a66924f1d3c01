"""``python -m jikimi.scale.ray_job``: the entry point of a ``ray job submit``.

::

    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python -m jikimi.scale.ray_job --address auto --out /shared/verdicts \\
        [--resume] [--banks DIR --tenant TENANT_ID] [--files-from LIST] [PATH ...]

It runs on the head node, next to the cluster, so it needs no database: the bank
snapshot comes from index files (``--banks``: a folder written by
``BankSnapshot.save``, or the service's index folder). Folders are walked
(sorted, every regular file: a file that is not media gets an error Verdict);
``--files-from`` reads one path per line (or NUL-separated, as ``find -print0``
writes). The last line printed is the run's statistics as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from jikimi.config import load_settings
from jikimi.matching.bank_snapshot import BankSnapshot
from jikimi.scale.ray_scan import RayOptions, run_ray_scan


def walk(paths: Sequence[Path]) -> Iterator[Path]:
    """Files as named, folders walked (sorted, symlinked folders not followed)."""
    seen: set[Path] = set()
    for path in paths:
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs.sort()
                for name in sorted(names):
                    f = Path(root) / name
                    if f not in seen and f.is_file():
                        seen.add(f)
                        yield f
        elif path not in seen:
            seen.add(path)
            yield path


def read_list(path: Path) -> list[Path]:
    raw = path.read_bytes()
    sep = b"\0" if b"\0" in raw else b"\n"
    return [Path(os.fsdecode(p)) for p in raw.split(sep) if p.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jikimi.scale.ray_job")
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--address", default="auto", help="'auto' inside a Ray job; 'local'")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--files-from", type=Path)
    parser.add_argument("--banks", type=Path, help="bank snapshot folder (with --tenant)")
    parser.add_argument("--tenant", help="the tenant whose banks --banks holds")
    parser.add_argument("--actor-cpus", type=float, default=1.0)
    parser.add_argument("--min-actors", type=int, default=1)
    parser.add_argument("--max-actors", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--local-cpus", type=int)
    args = parser.parse_args(argv)
    if (args.banks is None) != (args.tenant is None):
        parser.error("--banks and --tenant go together")
    files = list(walk(args.paths))
    if args.files_from is not None:
        files += read_list(args.files_from)
    settings = load_settings()
    matcher = BankSnapshot.load(args.banks, args.tenant) if args.banks is not None else None
    options = RayOptions(
        address=args.address,
        out_dir=args.out,
        resume=args.resume,
        actor_cpus=args.actor_cpus,
        min_actors=args.min_actors,
        max_actors=args.max_actors,
        batch_size=args.batch_size,
        local_cpus=args.local_cpus,
    )
    stats = run_ray_scan(files, settings, options, matcher=matcher)
    sys.stdout.write(json.dumps(stats.to_dict()) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
