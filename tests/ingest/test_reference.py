"""`beacon reference load`: a reference population's frequencies (INFO/AF, else AC/AN) per
assembly, into the real database, read back the way the PUBLIC gate reads them; a new load
replaces the old one in one catalog update, a failed one publishes nothing."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from beacon.errors import IngestError, InvalidRequest
from beacon.ingest.progress import Progress
from beacon.ingest.reference import ReferenceSummary, load_reference
from beacon.privacy import weight
from beacon.query import parse_query
from beacon.store.reference import REFERENCES, ReferenceFrequencies

Db = AsyncDatabase[dict[str, Any]]

HEADER = (
    "##fileformat=VCFv4.2\n"
    "##contig=<ID=1,length=249250621>\n##contig=<ID=2,length=243199373>\n"
    "##contig=<ID=GL000192.1,length=547496>\n"
    '##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequency">\n'
    '##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count">\n'
    '##INFO=<ID=AN,Number=1,Type=Integer,Description="Allele number">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
)
NO_FREQUENCY = "no INFO/AF (or AC and AN)"


def write_sites(path: Path, rows: list[str]) -> Path:
    """A sites-only VCF (no samples): our header and the given space-separated rows."""
    path.write_text(HEADER + "".join(r.replace(" ", "\t") + "\n" for r in rows))
    return path


async def load(db: Db, path: Path, assembly: str = "GRCh37", **kw: Any) -> ReferenceSummary:
    kw.setdefault("swap_grace", 0.0)
    return await load_reference(db, path, assembly=assembly, progress=Progress(None), **kw)


async def loaded(db: Db, assembly: str = "GRCh37") -> dict[str, float]:
    """Allele id -> frequency of the current load of `assembly`, read from the catalog."""
    entry = await db[REFERENCES].find_one({"_id": assembly})
    assert entry is not None, f"no reference published for {assembly}"
    docs = await db[entry["collection"]].find({}).to_list(None)
    return {doc["_id"]: doc["af"] for doc in docs}


async def reference_collections(db: Db) -> list[str]:
    return sorted(n for n in await db.list_collection_names() if n.startswith("reference__"))


def approx(values: dict[str, float]) -> Any:
    """INFO/AF is a 32-bit float in htslib: equal to 7 significant digits."""
    return pytest.approx(values, rel=1e-6)


# Each case: the rows of a file, the frequencies loaded, and what was skipped.
LOADS: dict[str, tuple[list[str], dict[str, float], dict[str, int]]] = {
    "af": (
        ["1 100 rs1 A G . PASS AF=0.25", "1 200 . C T . PASS AF=0.001"],
        {"1_99_A_G": 0.25, "1_199_C_T": 0.001},
        {},
    ),
    "af-zero-and-one": (
        ["1 100 . A G . PASS AF=0", "1 200 . C T . PASS AF=1"],
        {"1_99_A_G": 0.0, "1_199_C_T": 1.0},
        {},
    ),
    "ac-an": (
        ["1 100 . A G . PASS AC=3;AN=100", "1 200 . C T . PASS AC=0;AN=10"],
        {"1_99_A_G": 0.03, "1_199_C_T": 0.0},
        {},
    ),
    "af-before-ac-an": (
        ["1 100 . A G . PASS AF=0.5;AC=1;AN=100"],
        {"1_99_A_G": 0.5},
        {},
    ),
    "multi-allelic-af": (
        ["1 100 . A G,T,C . PASS AF=0.1,0.2,0.3"],
        {"1_99_A_G": 0.1, "1_99_A_T": 0.2, "1_99_A_C": 0.3},
        {},
    ),
    "multi-allelic-ac-an": (
        ["1 100 . A G,T . PASS AC=1,4;AN=20"],
        {"1_99_A_G": 0.05, "1_99_A_T": 0.2},
        {},
    ),
    "multi-allelic-one-af-missing": (
        ["1 100 . A G,T . PASS AF=0.1,."],
        {"1_99_A_G": 0.1},
        {NO_FREQUENCY: 1},
    ),
    "missing-af-skipped-and-counted": (
        [
            "1 100 . A G . PASS AF=0.1",
            "1 200 . C T . PASS .",
            "1 300 . C T,G . PASS .",
            "1 400 . C T . PASS AF=.",
            "1 500 . C T . PASS AC=1",  # AN missing
            "1 600 . C T . PASS AC=1;AN=0",
        ],
        {"1_99_A_G": 0.1},
        {NO_FREQUENCY: 6},
    ),
    "af-out-of-range-skipped": (
        ["1 100 . A G . PASS AF=1.5", "1 200 . C T . PASS AF=-0.1", "1 300 . G A . PASS AF=0.3"],
        {"1_299_G_A": 0.3},
        {NO_FREQUENCY: 2},
    ),
    "ac-over-an-capped": (
        ["1 100 . A G . PASS AC=12;AN=10"],
        {"1_99_A_G": 1.0},
        {},
    ),
    "normalised-like-a-release": (
        # a VCF-padded deletion and insertion, a non-minimal SNV, lower case
        [
            "1 100 . GA G . PASS AF=0.1",
            "1 200 . C CTT . PASS AF=0.2",
            "1 300 . TAC CAC . PASS AF=0.3",
            "2 400 . a g . PASS AF=0.4",
        ],
        {"1_100_A_-": 0.1, "1_200_-_TT": 0.2, "1_299_T_C": 0.3, "2_399_A_G": 0.4},
        {},
    ),
    "first-of-a-duplicate-kept": (
        ["1 100 . A G . PASS AF=0.1", "1 100 . A G . PASS AF=0.9"],
        {"1_99_A_G": 0.1},
        {},
    ),
    "non-primary-contig-skipped": (
        ["GL000192.1 100 . A G . PASS AF=0.1", "1 100 . A G . PASS AF=0.2"],
        {"1_99_A_G": 0.2},
        {"contig GL000192.1 (not a primary chromosome)": 1},
    ),
    "no-alt-ignored": (
        ["1 100 . A . . PASS AF=0.1", "1 200 . C T . PASS AF=0.2"],
        {"1_199_C_T": 0.2},
        {},
    ),
    "bad-ref-skipped": (
        ["1 100 . CXZ T . PASS AF=0.1", "1 200 . C T . PASS AF=0.2"],
        {"1_199_C_T": 0.2},
        {"bad POS or REF": 1},
    ),
    "empty": ([], {}, {}),
}


@pytest.mark.parametrize("case", list(LOADS))
async def test_load(case: str, mongo: Any, db_name: str, tmp_path: Path) -> None:
    rows, expected, skipped = LOADS[case]
    db = mongo[db_name]
    summary = await load(db, write_sites(tmp_path / "ref.vcf", rows))
    assert await loaded(db) == approx(expected)
    assert (summary.assembly, summary.alleles, summary.records) == (
        "GRCh37",
        len(expected),
        len(rows),
    )
    assert summary.skipped == skipped
    entry = await db[REFERENCES].find_one({"_id": "GRCh37"})
    assert entry is not None
    assert (entry["alleles"], entry["source"]) == (len(expected), "ref.vcf")
    assert await reference_collections(db) == [entry["collection"]]


async def test_loaded_frequencies_are_what_the_gate_reads(
    mongo: Any, db_name: str, tmp_path: Path
) -> None:
    """ReferenceFrequencies finds a load by its assembly, for sequence queries in any spelling,
    ranges, and allele ids; nothing for an assembly without one."""
    db = mongo[db_name]
    rows = [
        "1 100 . A G . PASS AF=0.5",
        "1 150 . C T . PASS AF=0.25",
        "1 200 . GA G . PASS AF=0.1",
        "1 5000 . A C . PASS AF=0.75",
    ]
    await load(db, write_sites(tmp_path / "ref.vcf", rows), assembly="hg19")
    reference = ReferenceFrequencies(db)

    def query(**params: Any) -> Any:
        return parse_query({"referenceName": "1", **params}, max_span=5_000_000)

    cases: list[tuple[Any, dict[str, float]]] = [
        (query(start=[99], referenceBases="A", alternateBases="G"), {"1_99_A_G": 0.5}),
        (query(start=[98], referenceBases="CA", alternateBases="CG"), {"1_99_A_G": 0.5}),
        (query(start=[99], referenceBases="A", alternateBases="T"), {}),
        (query(start=[199], referenceBases="GA", alternateBases="G"), {"1_200_A_-": 0.1}),
        (query(start=[99], end=[300]), {"1_99_A_G": 0.5, "1_149_C_T": 0.25, "1_200_A_-": 0.1}),
        (query(start=[99], end=[300], variantType="SNP"), {"1_99_A_G": 0.5, "1_149_C_T": 0.25}),
        (query(start=[300], end=[4000]), {}),
        ("1_4999_A_C", {"1_4999_A_C": 0.75}),
        ("1_4999_A_G", {}),
    ]
    for asked, expected in cases:
        found = await reference.lookup(asked, "GRCh37")
        assert found is not None
        assert found[1] == approx(expected), asked
        assert found[0] == pytest.approx(weight(found[1].values())), asked
    assert await reference.lookup(cases[0][0], "GRCh38") is None


async def test_a_reload_replaces_the_previous_load(
    mongo: Any, db_name: str, tmp_path: Path
) -> None:
    """A second load of an assembly replaces the first as a whole (nothing of the first is kept,
    its collection is dropped); another assembly's load is untouched."""
    db = mongo[db_name]
    first = ["1 100 . A G . PASS AF=0.1", "1 200 . C T . PASS AF=0.2"]
    await load(db, write_sites(tmp_path / "first.vcf", first))
    await load(db, write_sites(tmp_path / "b38.vcf", ["2 10 . A G . PASS AF=0.7"]), "GRCh38")
    before = await reference_collections(db)
    second = ["1 100 . A G . PASS AF=0.4", "1 300 . G A . PASS AC=1;AN=4"]
    summary = await load(db, write_sites(tmp_path / "second.vcf", second))

    assert summary.alleles == 2
    assert await loaded(db) == approx({"1_99_A_G": 0.4, "1_299_G_A": 0.25})
    assert await loaded(db, "GRCh38") == approx({"2_9_A_G": 0.7})
    entries = {doc["_id"]: doc for doc in await db[REFERENCES].find({}).to_list(None)}
    assert entries["GRCh37"]["source"] == "second.vcf"
    after = await reference_collections(db)
    assert len(before) == len(after) == 2
    assert entries["GRCh37"]["collection"] not in before
    assert entries["GRCh38"]["collection"] in before
    assert sorted(doc["collection"] for doc in entries.values()) == after


async def test_a_reload_keeps_the_old_load_readable_for_the_grace_period(
    mongo: Any, db_name: str, tmp_path: Path
) -> None:
    """While readers may still hold the old catalog, the old collection stays; then it goes."""
    db = mongo[db_name]
    await load(db, write_sites(tmp_path / "first.vcf", ["1 100 . A G . PASS AF=0.1"]))
    [old] = await reference_collections(db)
    second = write_sites(tmp_path / "second.vcf", ["1 100 . A G . PASS AF=0.4"])
    reloading = asyncio.create_task(load(db, second, swap_grace=1.0))
    deadline = asyncio.get_running_loop().time() + 10
    while (await db[REFERENCES].find_one({"_id": "GRCh37"}) or {}).get("collection") == old:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)
    assert old in await reference_collections(db)
    assert await db[old].count_documents({}) == 1
    await reloading
    assert old not in await reference_collections(db)
    assert await loaded(db) == approx({"1_99_A_G": 0.4})


BROKEN = {
    "pos-not-a-number": "1 2x4 . C T . PASS AF=0.1",
    "too-few-columns": "1 204 . C",
    "alt-not-dna": "1 204 . C Q . PASS AF=0.1",
}


@pytest.mark.parametrize("case", list(BROKEN))
async def test_a_broken_file_publishes_nothing_and_keeps_the_old_load(
    case: str, mongo: Any, db_name: str, tmp_path: Path
) -> None:
    db = mongo[db_name]
    await load(db, write_sites(tmp_path / "good.vcf", ["1 100 . A G . PASS AF=0.1"]))
    entry = await db[REFERENCES].find_one({"_id": "GRCh37"})
    good = [f"1 {300 + i} . C T . PASS AF=0.2" for i in range(5)]
    bad = write_sites(tmp_path / "bad.vcf", [*good, BROKEN[case], "1 900 . G A . PASS AF=0.3"])

    with pytest.raises(IngestError, match=re.escape(f"{bad}: line ")):
        await load(db, bad, batch_size=2)  # two batches were written before the bad line

    assert await db[REFERENCES].find_one({"_id": "GRCh37"}) == entry
    assert await loaded(db) == approx({"1_99_A_G": 0.1})
    assert await reference_collections(db) == [entry["collection"]]


async def test_a_broken_first_load_leaves_nothing(mongo: Any, db_name: str, tmp_path: Path) -> None:
    db = mongo[db_name]
    bad = write_sites(
        tmp_path / "bad.vcf", ["1 100 . A G . PASS AF=0.1", BROKEN["pos-not-a-number"]]
    )
    with pytest.raises(IngestError):
        await load(db, bad, batch_size=1)
    assert await db[REFERENCES].count_documents({}) == 0
    assert await reference_collections(db) == []


@pytest.mark.parametrize(("assembly", "canonical"), [("hg19", "GRCh37"), ("hg38", "GRCh38")])
async def test_assembly_is_canonical(
    assembly: str, canonical: str, mongo: Any, db_name: str, tmp_path: Path
) -> None:
    db = mongo[db_name]
    summary = await load(
        db, write_sites(tmp_path / "r.vcf", ["1 100 . A G . PASS AF=0.1"]), assembly
    )
    assert summary.assembly == canonical
    assert await loaded(db, canonical) == approx({"1_99_A_G": 0.1})


async def test_unknown_assembly_is_refused(mongo: Any, db_name: str, tmp_path: Path) -> None:
    db = mongo[db_name]
    path = write_sites(tmp_path / "r.vcf", ["1 100 . A G . PASS AF=0.1"])
    with pytest.raises(InvalidRequest, match=r"--assembly: .*hg17"):
        await load(db, path, "hg17")
    assert await reference_collections(db) == []


# The command, as a user runs it


async def run_beacon(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "beacon",
        *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_command_loads_and_reports(
    cli_env: dict[str, str], mongo: Any, db_name: str, tmp_path: Path
) -> None:
    rows = [
        "1 100 . A G,T . PASS AF=0.1,0.2",
        "1 200 . C T . PASS .",
        "1 300 . G A . PASS AC=1;AN=8",
    ]
    path = write_sites(tmp_path / "gnomad.vcf", rows)
    code, out, err = await run_beacon(
        "reference", "load", str(path), "--assembly", "hg19", env=cli_env
    )
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert re.fullmatch(
        r"reference frequencies for GRCh37: 3 alleles from 3 records in \d+\.\d s "
        r"\(replaces any earlier load\)",
        lines[0],
    ), out
    assert lines[1:] == [f"  skipped 1: {NO_FREQUENCY}"]
    assert await loaded(mongo[db_name]) == approx(
        {"1_99_A_G": 0.1, "1_99_A_T": 0.2, "1_299_G_A": 0.125}
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--assembly", "hg17"], "error: --assembly: unknown assembly 'hg17'"),
        (["--assembly", "GRCh37", "--bad"], None),
    ],
    ids=["unknown-assembly", "unknown-option"],
)
async def test_command_refuses_bad_arguments(
    args: list[str], message: str | None, cli_env: dict[str, str], mongo: Any, db_name: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    path = write_sites(tmp_path / "r.vcf", ["1 100 . A G . PASS AF=0.1"])
    code, out, err = await run_beacon("reference", "load", str(path), *args, env=cli_env)
    assert (code, out) == (2, "")
    if message is not None:
        assert err.startswith(message), err
        assert len(err.splitlines()) == 1
    assert await reference_collections(mongo[db_name]) == []


async def test_command_with_a_broken_file_is_a_one_line_error_and_keeps_the_old_load(
    cli_env: dict[str, str], mongo: Any, db_name: str, tmp_path: Path
) -> None:
    db = mongo[db_name]
    await load(db, write_sites(tmp_path / "good.vcf", ["1 100 . A G . PASS AF=0.1"]))
    bad = write_sites(
        tmp_path / "bad.vcf", ["1 100 . A G . PASS AF=0.5", BROKEN["pos-not-a-number"]]
    )
    code, out, err = await run_beacon(
        "reference", "load", str(bad), "--assembly", "GRCh37", env=cli_env
    )
    assert (code, out) == (2, "")
    line = HEADER.count("\n") + 2
    # htslib may print its own line first; ours is the last, and no traceback
    assert err.splitlines()[-1].startswith(f"error: {bad}: line {line}: htslib could not parse"), (
        err
    )
    assert "Traceback" not in err
    assert await loaded(db) == approx({"1_99_A_G": 0.1})
    assert len(await reference_collections(db)) == 1
