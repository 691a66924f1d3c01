"""``python -m jikimi.scale.ray_job``: the entry point of a ``ray job submit``.

::

    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python -m jikimi.scale.ray_job --address auto --out /shared/verdicts \\
        [--resume] [--tenant NAME | --key KEY | --banks DIR --tenant-id ID] \\
        [--files-from LIST] [PATH ...]

Which files: those ``jikimi scan`` would look at (:mod:`jikimi.pipeline.discover`:
folders walked, files whose bytes or names say media; files named, or listed in
``--files-from`` (one path per line, or NUL-separated as ``find -print0``
writes), always). The stages come from one of two places:

- ``--tenant NAME`` (the operator acting for a tenant) or ``--key KEY``: the
  tenant's banks *and* her enrolled persons from the configured database
  (``JIKIMI_DATABASE_URL``, templates opened with ``JIKIMI_FACE_KEY``), exactly
  as ``jikimi scan --tenant/--key`` loads them, so the Verdicts, face matches
  included, are those of ``jikimi scan --json``;
- ``--banks DIR --tenant-id ID``: banks only, from index files (a folder written
  by ``BankSnapshot.save``, or the service's index folder), for a head with no
  database; no face stage.

The last line printed is the run's statistics as JSON; a missing path is a usage
error (exit 2) before anything starts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from jikimi.config import load_settings
from jikimi.faces import TenantFaces
from jikimi.matching.bank_snapshot import BankSnapshot
from jikimi.pipeline.discover import discover
from jikimi.scale.ray_scan import RayOptions, run_ray_scan

EXIT_USAGE = 2


def read_list(path: Path) -> list[Path]:
    raw = path.read_bytes()
    sep = b"\0" if b"\0" in raw else b"\n"
    return [Path(os.fsdecode(p)) for p in raw.split(sep) if p.strip()]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m jikimi.scale.ray_job")
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--address", default="auto", help="'auto' inside a Ray job; 'local'")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--files-from", type=Path)
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--tenant", help="the tenant's banks and faces, from the database")
    who.add_argument("--key", help="this API key's banks and faces, from the database")
    who.add_argument("--banks", type=Path, help="bank snapshot folder (with --tenant-id)")
    parser.add_argument("--tenant-id", help="the tenant whose banks --banks holds")
    parser.add_argument("--actor-cpus", type=float, default=1.0)
    parser.add_argument("--min-actors", type=int, default=1)
    parser.add_argument("--max-actors", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--local-cpus", type=int)
    parser.add_argument(
        "--read-stage",
        choices=["auto", "on", "off"],
        default="auto",
        help="images read by a stage of their own (default: on a cluster of several nodes)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if (args.banks is None) != (args.tenant_id is None):
        parser.error("--banks and --tenant-id go together")
    found = discover([*args.paths, *(read_list(args.files_from) if args.files_from else [])])
    if found.missing:
        for p in found.missing:
            sys.stderr.write(f"error: no such file or folder: {p}\n")
        return EXIT_USAGE
    settings = load_settings()
    matcher: BankSnapshot | None = None
    faces: TenantFaces | None = None
    if args.banks is not None:
        matcher = BankSnapshot.load(args.banks, args.tenant_id)
    elif args.tenant is not None or args.key is not None:
        from jikimi.services.local_scan import tenant_stages  # (the database, only here)

        matcher, faces = tenant_stages(settings, args.key, args.tenant)
    options = RayOptions(
        address=args.address,
        out_dir=args.out,
        resume=args.resume,
        actor_cpus=args.actor_cpus,
        min_actors=args.min_actors,
        max_actors=args.max_actors,
        batch_size=args.batch_size,
        local_cpus=args.local_cpus,
        read_stage={"auto": None, "on": True, "off": False}[args.read_stage],
    )
    stats = run_ray_scan(found.files, settings, options, matcher=matcher, faces=faces)
    sys.stdout.write(json.dumps({**stats.to_dict(), "skipped_not_media": len(found.skipped)}))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
