"""Generate a simulated cohort VCF for the benchmarks, reusing an existing one when it matches.

    python bench/make_cohort.py OUT.vcf.gz --samples 1000 --alleles 1000000 --seed 1

OUT.json beside the file records the parameters; when it matches, no work is done.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from beacon.simulate import CohortSpec, sequence_length_for, write_cohort_vcf

# Bump when write_cohort_vcf writes a different file for the same spec.
GENERATOR_REVISION = 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="bgzipped VCF to write")
    parser.add_argument("--samples", type=int, default=1000, help="diploid individuals")
    parser.add_argument("--alleles", type=int, default=1_000_000, help="ALT alleles wanted")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def sidecar_path(out: Path) -> Path:
    """Where the parameters of OUT are recorded."""
    return out.with_name(out.name + ".json")


def existing_result(out: Path, params: dict[str, Any]) -> dict[str, Any] | None:
    """The recorded result when OUT exists and was made with the same parameters."""
    sidecar = sidecar_path(out)
    if not (out.exists() and sidecar.exists()):
        return None
    recorded: dict[str, Any] = json.loads(sidecar.read_text())
    return recorded if recorded.get("params") == params else None


def report_progress(target: int, started: float) -> Callable[[int], None]:
    """A progress callback overwriting one stderr line with the allele count so far."""

    def progress(alleles: int) -> None:
        elapsed = time.perf_counter() - started
        print(f"\r{alleles:>12,} / ~{target:,} alleles  {elapsed:6.1f} s", end="", file=sys.stderr)

    return progress


def main(argv: list[str] | None = None) -> int:
    """Make (or reuse) the cohort and print its allele count, time and size."""
    args = parse_args(argv)
    length = sequence_length_for(args.alleles, args.samples)
    spec = CohortSpec(samples=args.samples, sequence_length=length, seed=args.seed)
    params = {
        "alleles_wanted": args.alleles,
        "generator_revision": GENERATOR_REVISION,
        "msprime": importlib.metadata.version("msprime"),
        **dataclasses.asdict(spec),
    }
    result = existing_result(args.out, params)
    if result is not None:
        print(f"reusing {args.out}: {result['alleles']} alleles (made in {result['seconds']} s)")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_name(args.out.name + ".partial")
    started = time.perf_counter()
    alleles = write_cohort_vcf(spec, partial, progress=report_progress(args.alleles, started))
    seconds = round(time.perf_counter() - started, 1)
    print(file=sys.stderr)
    # Drop the old record first so an interrupted run can never pair it with the new file.
    sidecar_path(args.out).unlink(missing_ok=True)
    partial.replace(args.out)
    result = {"params": params, "alleles": alleles, "seconds": seconds}
    sidecar_path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    size_mb = args.out.stat().st_size / 1e6
    print(f"{alleles} alleles x {args.samples} samples in {seconds} s, {size_mb:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
