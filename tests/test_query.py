"""Allele normalisation and allele queries (beacon.query): table-driven, no I/O."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import pytest

from beacon.errors import InvalidRequest
from beacon.query import (
    LONG_VARIANT,
    Allele,
    AlleleQuery,
    QueryKind,
    bases_match,
    parse_query,
    parse_short_form,
    sequence_allele,
    sequence_type,
    symbolic_allele,
    trim,
)

MAX_SPAN = 1_000_000


def query(**params: Any) -> AlleleQuery:
    return parse_query(params, max_span=MAX_SPAN)


def seq_query(start: int, ref: str, alt: str, chrom: str = "1", **extra: Any) -> AlleleQuery:
    return query(
        referenceName=chrom, start=[start], referenceBases=ref, alternateBases=alt, **extra
    )


def range_query(start: int, end: int, chrom: str = "1", **extra: Any) -> AlleleQuery:
    return query(referenceName=chrom, start=[start], end=[end], **extra)


def sym(start: int, end: int, alt: str = "<DEL>", vtype: str = "DEL") -> Allele:
    """A symbolic allele already in 0-based half-open terms."""
    return Allele("1", start, end, "", alt, vtype)


# --- trimming -------------------------------------------------------------------------------

TRIM_CASES = [
    pytest.param((10, "A", "G"), (10, "A", "G"), id="snv"),
    pytest.param((10, "AC", "GT"), (10, "AC", "GT"), id="mnp"),
    pytest.param((10, "ACG", "TCA"), (10, "ACG", "TCA"), id="mnp-shared-middle-kept"),
    pytest.param((10, "GACT", "GTGT"), (11, "AC", "TG"), id="padded-mnp"),
    pytest.param((10, "A", "AT"), (11, "", "T"), id="padded-insertion"),
    pytest.param((10, "AT", "A"), (11, "T", ""), id="padded-deletion"),
    pytest.param((11, "", "T"), (11, "", "T"), id="vrs-insertion"),
    pytest.param((11, "T", ""), (11, "T", ""), id="vrs-deletion"),
    pytest.param((54, "TATTTT", "CATTTT"), (54, "T", "C"), id="non-minimal-snv"),
    pytest.param((54, "TATATA", "AATATA"), (54, "T", "A"), id="repeat-context-snv"),
    pytest.param((100, "AA", "A"), (100, "A", ""), id="homopolymer-deletion-first-base"),
    pytest.param((99, "CAA", "CA"), (100, "A", ""), id="homopolymer-deletion-padded"),
    pytest.param((100, "A", "AA"), (100, "", "A"), id="homopolymer-insertion"),
    pytest.param((10, "ATA", "A"), (10, "AT", ""), id="suffix-trimmed-before-prefix"),
    pytest.param((10, "ACGT", "AG"), (11, "CGT", "G"), id="complex-indel"),
    pytest.param((10, "GACTC", "GTTC"), (11, "AC", "T"), id="complex-indel-both-pads"),
    pytest.param((10, "ACG", "ACG"), (10, "", ""), id="identical-trims-to-nothing"),
]


@pytest.mark.parametrize(("written", "trimmed"), TRIM_CASES)
def test_trim(written: tuple[int, str, str], trimmed: tuple[int, str, str]) -> None:
    assert trim(*written) == trimmed


@pytest.mark.parametrize(("written", "trimmed"), TRIM_CASES)
def test_trim_is_idempotent(written: tuple[int, str, str], trimmed: tuple[int, str, str]) -> None:
    assert trim(*trimmed) == trimmed


@pytest.mark.parametrize(
    ("ref", "alt", "expected"),
    [
        ("A", "G", "SNP"),
        ("AC", "GT", "MNP"),
        ("ACG", "TCA", "MNP"),
        ("", "T", "INS"),
        ("", "TTTT", "INS"),
        ("T", "", "DEL"),
        ("TTTT", "", "DEL"),
        ("CGT", "G", "INDEL"),
        ("G", "CGT", "INDEL"),
    ],
)
def test_sequence_type(ref: str, alt: str, expected: str) -> None:
    assert sequence_type(ref, alt) == expected


@pytest.mark.parametrize(
    ("chrom", "start", "ref", "alt", "expected"),
    [
        ("17", 43045711, "G", "A", Allele("17", 43045711, 43045712, "G", "A", "SNP")),
        ("MT", 54, "TATTTT", "CATTTT", Allele("MT", 54, 55, "T", "C", "SNP")),
        ("MT", 54, "TATATA", "AATATA", Allele("MT", 54, 55, "T", "A", "SNP")),
        ("1", 10, "GACT", "GTGT", Allele("1", 11, 13, "AC", "TG", "MNP")),
        ("1", 10, "A", "AT", Allele("1", 11, 11, "", "T", "INS")),
        ("1", 10, "AT", "A", Allele("1", 11, 12, "T", "", "DEL")),
        ("1", 100, "AA", "A", Allele("1", 100, 101, "A", "", "DEL")),
        ("1", 10, "ACGT", "AG", Allele("1", 11, 14, "CGT", "G", "INDEL")),
    ],
)
def test_sequence_allele(chrom: str, start: int, ref: str, alt: str, expected: Allele) -> None:
    assert sequence_allele(chrom, start, ref, alt) == expected


@pytest.mark.parametrize(
    ("allele", "length", "long"),
    [
        (sequence_allele("1", 10, "A", "G"), 1, False),
        (sequence_allele("1", 10, "A", "ATTT"), 3, False),
        (sequence_allele("1", 10, "ACG", "A"), 2, False),
        (sequence_allele("1", 10, "ACGT", "AG"), 3, False),
        (sequence_allele("1", 10, "AC", "GT"), 2, False),
        (sym(100, 200), 100, False),
        (sym(100, 100, "<INS>", "INS"), 1, False),
        (sym(100, 100 + LONG_VARIANT), LONG_VARIANT, False),
        (sym(100, 101 + LONG_VARIANT), LONG_VARIANT + 1, True),
    ],
)
def test_allele_length_and_long(allele: Allele, length: int, long: bool) -> None:
    assert (allele.length, allele.long) == (length, long)


# --- allele keys ----------------------------------------------------------------------------

KEY_CASES = [
    pytest.param(sequence_allele("17", 43045711, "G", "A"), "17_43045711_G_A", id="snv"),
    pytest.param(sequence_allele("MT", 54, "TATTTT", "CATTTT"), "MT_54_T_C", id="padded-snv"),
    pytest.param(sequence_allele("1", 10, "A", "AT"), "1_11_-_T", id="insertion"),
    pytest.param(sequence_allele("1", 10, "AT", "A"), "1_11_T_-", id="deletion"),
    pytest.param(sequence_allele("1", 10, "ACGT", "AG"), "1_11_CGT_G", id="indel"),
    pytest.param(sym(100, 200), "1_100_200_DEL", id="symbolic"),
    pytest.param(sym(100, 200, "<DEL:ME:ALU>"), "1_100_200_DEL.ME.ALU", id="symbolic-subtype"),
    pytest.param(sym(100, 200, "<CN0>"), "1_100_200_CN0", id="copy-number"),
    pytest.param(
        sequence_allele("1", 100, "A" * 32, "C" * 31),
        "1_100_" + "A" * 32 + "_" + "C" * 31,
        id="64-char-body-kept",
    ),
    pytest.param(
        sequence_allele("1", 100, "A" * 33, "C" * 31),
        "1_100_133_hf33563f0985ba0403706",
        id="65-char-body-hashed",
    ),
    pytest.param(
        sequence_allele("1", 100, "A" * 40, "C" * 40),
        "1_100_140_h16477f9c9ab29a30392e",
        id="long-mnp-hashed",
    ),
]


@pytest.mark.parametrize(("allele", "key"), KEY_CASES)
def test_allele_key(allele: Allele, key: str) -> None:
    assert allele.key == key


@pytest.mark.parametrize(("allele", "key"), KEY_CASES)
def test_allele_key_is_url_safe(allele: Allele, key: str) -> None:
    assert quote(allele.key, safe="") == allele.key
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", allele.key)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("MT", 54, "TATTTT", "CATTTT"), ("MT", 54, "T", "C")),
        (("1", 10, "A", "AT"), ("1", 11, "", "T")),
        (("1", 99, "CAA", "CA"), ("1", 100, "AA", "A")),
        (("1", 99, "G" + "A" * 80, "G" + "C" * 80), ("1", 100, "A" * 80, "C" * 80)),
    ],
)
def test_same_allele_written_differently_has_one_key(
    first: tuple[str, int, str, str], second: tuple[str, int, str, str]
) -> None:
    assert sequence_allele(*first).key == sequence_allele(*second).key


# --- symbolic alleles -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alt", "end", "svlen", "expected"),
    [
        ("<DEL>", 200, None, (100, 200, "DEL")),
        ("<DEL>", None, -100, (100, 200, "DEL")),
        ("<DEL>", 50, -100, (100, 200, "DEL")),
        ("<DEL>", None, None, (100, 101, "DEL")),
        ("<DEL:ME:ALU>", 400, None, (100, 400, "DEL")),
        ("<DUP>", None, 50, (100, 150, "DUP")),
        ("<DUP>", 300, None, (100, 300, "DUP")),
        ("<DUP:TANDEM>", 300, None, (100, 300, "DUP")),
        ("<CN0>", 150, None, (100, 150, "DEL")),
        ("<CN1>", 150, None, (100, 150, "DEL")),
        ("<CN2>", 150, None, (100, 150, "CNV")),
        ("<CN3>", 150, None, (100, 150, "DUP")),
        ("<CN12>", 150, None, (100, 150, "DUP")),
        ("<CNV>", 150, None, (100, 150, "CNV")),
        ("<INS>", None, None, (100, 100, "INS")),
        ("<INS>", 100, None, (100, 100, "INS")),
        ("<INS:ME:ALU>", None, None, (100, 100, "INS")),
        ("<INV>", 500, None, (100, 500, "INV")),
        ("<BND>", None, None, (100, 101, "BND")),
        ("<FOO>", 150, None, (100, 150, "SV")),
    ],
)
def test_symbolic_allele(
    alt: str, end: int | None, svlen: int | None, expected: tuple[int, int, str]
) -> None:
    start, stop, vtype = expected
    assert symbolic_allele("1", 99, alt, end, svlen) == Allele("1", start, stop, "", alt, vtype)


@pytest.mark.parametrize("alt", ["A", "", "<del>", "<*>", "<>", "DEL", "<DEL", "A<DEL>"])
def test_symbolic_allele_refuses_non_symbolic(alt: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"not a symbolic allele: {alt!r}")):
        symbolic_allele("1", 99, alt, 200, None)


@pytest.mark.parametrize(
    ("pattern", "bases", "expected"),
    [
        ("A", "A", True),
        ("A", "C", False),
        ("N", "C", True),
        ("C", "N", True),
        ("ANG", "ACG", True),
        ("ANG", "ACT", False),
        ("", "", True),
        ("A", "", False),
        ("N", "AC", False),
        ("AN", "A", False),
    ],
)
def test_bases_match(pattern: str, bases: str, expected: bool) -> None:
    assert bases_match(pattern, bases) is expected


# --- parse_query ----------------------------------------------------------------------------

SEQ = QueryKind.SEQUENCE
RANGE = QueryKind.RANGE
BRACKET = QueryKind.BRACKET


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param(
            {"referenceName": "17", "start": [43045711], "referenceBases": "G",
             "alternateBases": "A"},
            AlleleQuery(SEQ, "17", None, 43045711, 43045712, "G", "A"),
            id="sequence",
        ),
        pytest.param(
            {"referenceName": "chr17", "start": [43045711], "referenceBases": "g",
             "alternateBases": "a", "assemblyId": "hg38"},
            AlleleQuery(SEQ, "17", "GRCh38", 43045711, 43045712, "G", "A"),
            id="sequence-lowercase-alias",
        ),
        pytest.param(
            {"referenceName": "chrM", "start": [54], "referenceBases": "TATTTT",
             "alternateBases": "CATTTT", "assemblyId": "GRCh37"},
            AlleleQuery(SEQ, "MT", "GRCh37", 54, 55, "T", "C"),
            id="sequence-padded-trimmed",
        ),
        pytest.param(
            {"referenceName": "MT", "start": [54], "referenceBases": "TN",
             "alternateBases": "CN"},
            AlleleQuery(SEQ, "MT", None, 54, 56, "TN", "CN"),
            id="sequence-wildcard-untrimmed",
        ),
        pytest.param(
            {"referenceName": "1", "start": [10], "referenceBases": "A", "alternateBases": "AT"},
            AlleleQuery(SEQ, "1", None, 11, 11, "", "T"),
            id="sequence-padded-insertion",
        ),
        pytest.param(
            {"referenceName": "1", "start": [11], "referenceBases": "T", "alternateBases": ""},
            AlleleQuery(SEQ, "1", None, 11, 12, "T", ""),
            id="sequence-vrs-deletion",
        ),
        pytest.param(
            {"referenceName": "NC_000017.11", "start": [100], "end": [200]},
            AlleleQuery(RANGE, "17", "GRCh38", 100, 200),
            id="range-refseq-implies-assembly",
        ),
        pytest.param(
            {"referenceName": "NC_000017.10", "start": [100], "end": [200], "assemblyId": "hg19"},
            AlleleQuery(RANGE, "17", "GRCh37", 100, 200),
            id="range-refseq-agreeing-assembly",
        ),
        pytest.param(
            {"referenceName": "1", "start": [100], "end": [100 + MAX_SPAN]},
            AlleleQuery(RANGE, "1", None, 100, 100 + MAX_SPAN),
            id="range-exactly-span-limit",
        ),
        pytest.param(
            {"referenceName": "1", "start": [100], "end": [200], "alternateBases": "a",
             "variantType": "SNV"},
            AlleleQuery(RANGE, "1", None, 100, 200, None, "A",
                        variant_types=frozenset({"SNP"}), variant_type="SNV"),
            id="range-alt-and-type",
        ),
        pytest.param(
            {"referenceName": "1", "start": [100], "end": [200], "variantType": "del",
             "variantMinLength": 50, "variantMaxLength": 50},
            AlleleQuery(RANGE, "1", None, 100, 200, variant_types=frozenset({"DEL"}),
                        variant_type="del", min_length=50, max_length=50),
            id="range-type-lowercase-lengths-equal",
        ),
        pytest.param(
            {"referenceName": "1", "start": [100], "end": [200], "variantType": "efo:0030070"},
            AlleleQuery(RANGE, "1", None, 100, 200, variant_types=frozenset({"DUP"}),
                        variant_type="efo:0030070"),
            id="range-efo-lowercase",
        ),
        pytest.param(
            {"referenceName": "X", "start": [100, 110], "end": [190, 210]},
            AlleleQuery(BRACKET, "X", None, 100, 210, start_max=110, end_min=190),
            id="bracket",
        ),
        pytest.param(
            {"referenceName": "1", "start": [100], "end": [200], "geneId": "",
             "mateName": None},
            AlleleQuery(RANGE, "1", None, 100, 200),
            id="empty-unsupported-params-ignored",
        ),
    ],
)  # fmt: skip
def test_parse_query(params: dict[str, Any], expected: AlleleQuery) -> None:
    assert query(**params) == expected


COMBOS = (
    "give start alone (sequence query), start and end (range query), "
    "or two starts and two ends (bracket query)"
)
INCREASING = "bracket bounds must be increasing: start[0] < start[1], end[0] < end[1]"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        pytest.param({}, "referenceName is required", id="no-reference"),
        pytest.param({"referenceName": "", "start": [1], "end": [2]},
                     "referenceName is required", id="empty-reference"),
        pytest.param({"geneId": "BRCA1"},
                     "geneId queries are not supported by this beacon", id="gene-first"),
        pytest.param({"referenceName": "1", "aminoacidChange": "V600E"},
                     "aminoacidChange queries are not supported by this beacon", id="aa"),
        pytest.param({"referenceName": "1", "genomicAlleleShortForm": "NC_000001.11:g.1A>G"},
                     "genomicAlleleShortForm queries are not supported by this beacon",
                     id="hgvs"),
        pytest.param({"referenceName": "1", "start": [1], "end": [5], "mateName": "2"},
                     "mateName queries are not supported by this beacon", id="mate"),
        pytest.param({"referenceName": "1"}, COMBOS, id="no-start"),
        pytest.param({"referenceName": "1", "end": [5]}, COMBOS, id="end-only"),
        pytest.param({"referenceName": "1", "start": [1, 2], "end": [5]}, COMBOS,
                     id="two-starts-one-end"),
        pytest.param({"referenceName": "1", "start": [1, 2]}, COMBOS, id="two-starts-no-end"),
        pytest.param({"referenceName": "1", "start": [1], "end": [5, 6]}, COMBOS,
                     id="one-start-two-ends"),
        pytest.param({"referenceName": "1", "start": [1, 2, 3], "end": [4, 5, 6]}, COMBOS,
                     id="three-and-three"),
        pytest.param({"referenceName": "1", "start": [1], "referenceBases": "A"},
                     "a query with start and no end needs referenceBases and alternateBases",
                     id="sequence-without-alt"),
        pytest.param({"referenceName": "1", "start": [1], "alternateBases": "A"},
                     "a query with start and no end needs referenceBases and alternateBases",
                     id="sequence-without-ref"),
        pytest.param({"referenceName": "1", "start": [1], "referenceBases": "A",
                      "alternateBases": "A"},
                     "referenceBases and alternateBases are equal: that is not a variant",
                     id="ref-equals-alt"),
        pytest.param({"referenceName": "1", "start": [1], "referenceBases": "acg",
                      "alternateBases": "ACG"},
                     "referenceBases and alternateBases are equal: that is not a variant",
                     id="ref-equals-alt-any-case"),
        pytest.param({"referenceName": "1", "start": [1], "referenceBases": "X",
                      "alternateBases": "A"},
                     "referenceBases must be DNA bases (A, C, G, T, N), got 'X'", id="bad-ref"),
        pytest.param({"referenceName": "1", "start": [1], "end": [9], "alternateBases": "<DEL>"},
                     "alternateBases must be DNA bases (A, C, G, T, N), got '<DEL>'",
                     id="bad-alt-in-range"),
        pytest.param({"referenceName": "1", "start": [100], "end": [100]},
                     "end (100) must be greater than start (100)", id="empty-range"),
        pytest.param({"referenceName": "1", "start": [100], "end": [50]},
                     "end (50) must be greater than start (100)", id="reversed-range"),
        pytest.param({"referenceName": "1", "start": [100], "end": [101 + MAX_SPAN]},
                     "range of 1000001 bases is wider than this beacon's limit of 1000000",
                     id="range-span"),
        pytest.param({"referenceName": "1", "start": [110, 100], "end": [190, 210]},
                     INCREASING, id="reversed-bracket-starts"),
        pytest.param({"referenceName": "1", "start": [100, 110], "end": [210, 190]},
                     INCREASING, id="reversed-bracket-ends"),
        pytest.param({"referenceName": "1", "start": [100, 100], "end": [190, 210]},
                     INCREASING, id="empty-bracket-start"),
        pytest.param({"referenceName": "1", "start": [100, 110], "end": [50, 100]},
                     "bracket end range lies before its start range", id="ends-before-starts"),
        pytest.param({"referenceName": "1", "start": [0, 10], "end": [20, 1 + MAX_SPAN]},
                     "bracket spans more than this beacon's limit of 1000000 bases",
                     id="bracket-span"),
        pytest.param({"referenceName": "1", "start": [1], "end": [9], "variantMinLength": 10,
                      "variantMaxLength": 9},
                     "variantMinLength is greater than variantMaxLength", id="min-over-max"),
        pytest.param({"referenceName": "NC_000017.10", "start": [1], "end": [9],
                      "assemblyId": "GRCh38"},
                     "referenceName is a GRCh37 accession but assemblyId is GRCh38",
                     id="assembly-mismatch"),
        pytest.param({"referenceName": "refseq:NC_000017.11", "start": [1], "end": [9],
                      "assemblyId": "hg19"},
                     "referenceName is a GRCh38 accession but assemblyId is GRCh37",
                     id="assembly-mismatch-alias"),
        pytest.param({"referenceName": "1", "start": [1], "end": [9], "assemblyId": "hg17"},
                     "unknown assembly 'hg17': use GRCh37 (hg19) or GRCh38 (hg38)",
                     id="unknown-assembly"),
        pytest.param({"referenceName": "chr99", "start": [1], "end": [9]},
                     "unknown chromosome 'chr99': use 1-22, X, Y, MT (or chr1, NC_000001.11)",
                     id="unknown-chromosome"),
    ],
)  # fmt: skip
def test_parse_query_refuses(params: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        query(**params)
    assert caught.value.message == message
    assert caught.value.status == 400


@pytest.mark.parametrize("vtype", ["FOO", "SV", "EFO:9999999", "snp:1"])
def test_parse_query_refuses_unknown_variant_type(vtype: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        range_query(1, 9, variantType=vtype)
    prefix = f"unknown variantType {vtype!r}; known: SNP, SNV, MNP, MNV, INS, DEL, INDEL, "
    assert caught.value.message.startswith(prefix)
    assert "EFO:0030067" in caught.value.message


# --- matches(): sequence queries ------------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "stored", "expected"),
    [
        pytest.param(("MT", 54, "T", "C"), ("MT", 54, "T", "C"), True, id="exact"),
        pytest.param(("MT", 54, "TATTTT", "CATTTT"), ("MT", 54, "T", "C"), True,
                     id="padded-query-trimmed-store"),
        pytest.param(("MT", 54, "T", "C"), ("MT", 54, "TATTTT", "CATTTT"), True,
                     id="trimmed-query-padded-store"),
        pytest.param(("MT", 53, "GT", "GC"), ("MT", 54, "T", "C"), True,
                     id="prefix-padded-query"),
        pytest.param(("MT", 54, "T", "G"), ("MT", 54, "T", "C"), False, id="other-alt"),
        pytest.param(("MT", 55, "T", "C"), ("MT", 54, "T", "C"), False, id="other-position"),
        pytest.param(("1", 54, "T", "C"), ("MT", 54, "T", "C"), False, id="other-chromosome"),
        pytest.param(("MT", 54, "T", "N"), ("MT", 54, "T", "C"), True, id="n-alt"),
        pytest.param(("MT", 54, "T", "N"), ("MT", 54, "T", "G"), True, id="n-alt-other-base"),
        pytest.param(("MT", 54, "T", "N"), ("MT", 54, "T", "GA"), False, id="n-alt-one-base"),
        pytest.param(("MT", 54, "N", "C"), ("MT", 54, "T", "C"), True, id="n-ref"),
        pytest.param(("MT", 54, "N", "C"), ("MT", 54, "T", "G"), False, id="n-ref-other-alt"),
        pytest.param(("MT", 54, "TN", "CN"), ("MT", 54, "T", "C"), True, id="n-padding"),
        pytest.param(("MT", 54, "TN", "CN"), ("MT", 55, "T", "C"), False,
                     id="n-padding-other-position"),
        pytest.param(("MT", 54, "NA", "NG"), ("MT", 55, "A", "G"), True,
                     id="n-padding-before"),
        pytest.param(("1", 10, "A", "AT"), ("1", 11, "", "T"), True, id="padded-insertion"),
        pytest.param(("1", 10, "A", "AT"), ("1", 10, "A", "AT"), True,
                     id="padded-insertion-both"),
        pytest.param(("1", 10, "A", "AT"), ("1", 11, "", "G"), False, id="other-insertion"),
        pytest.param(("1", 10, "A", "AT"), ("1", 10, "", "T"), False,
                     id="insertion-one-base-earlier"),
        pytest.param(("1", 10, "AT", "A"), ("1", 11, "T", ""), True, id="padded-deletion"),
        pytest.param(("1", 10, "AN", "A"), ("1", 11, "G", ""), True, id="n-deletion"),
        pytest.param(("1", 10, "AN", "A"), ("1", 11, "GC", ""), False, id="n-deletion-longer"),
        pytest.param(("1", 10, "ACGT", "AG"), ("1", 11, "CGT", "G"), True, id="complex-indel"),
        pytest.param(("MT", 54, "T", "C"), ("MT", 54, "", "C"), False,
                     id="insertion-at-snv-position"),
    ],
)  # fmt: skip
def test_sequence_matches(
    asked: tuple[str, int, str, str], stored: tuple[str, int, str, str], expected: bool
) -> None:
    chrom, start, ref, alt = asked
    assert seq_query(start, ref, alt, chrom).matches(sequence_allele(*stored)) is expected


def test_sequence_query_never_matches_symbolic() -> None:
    allele = symbolic_allele("1", 99, "<DEL>", 200, None)
    assert seq_query(100, "A", "", "1").matches(allele) is False


# --- matches(): range and bracket queries ---------------------------------------------------


@pytest.mark.parametrize(
    ("allele", "expected"),
    [
        pytest.param(sequence_allele("1", 99, "A", "C"), False, id="snv-ending-at-start"),
        pytest.param(sequence_allele("1", 100, "A", "C"), True, id="snv-at-start"),
        pytest.param(sequence_allele("1", 199, "A", "C"), True, id="snv-at-last-base"),
        pytest.param(sequence_allele("1", 200, "A", "C"), False, id="snv-at-end"),
        pytest.param(sequence_allele("1", 94, "GACGTA", "G"), False, id="del-ending-at-start"),
        pytest.param(sequence_allele("1", 94, "GACGTAC", "G"), True, id="del-into-range"),
        pytest.param(sequence_allele("1", 99, "A", "AT"), True, id="insertion-at-start"),
        pytest.param(sequence_allele("1", 98, "A", "AT"), False, id="insertion-before-start"),
        pytest.param(sequence_allele("1", 199, "A", "AT"), False, id="insertion-at-end"),
        pytest.param(sequence_allele("1", 198, "A", "AT"), True, id="insertion-at-last-base"),
        pytest.param(sym(50, 150), True, id="sv-over-start"),
        pytest.param(sym(10, 1000), True, id="sv-over-whole-range"),
        pytest.param(sym(150, 250), True, id="sv-over-end"),
        pytest.param(sym(200, 300), False, id="sv-after"),
        pytest.param(sym(50, 100), False, id="sv-ending-at-start"),
        pytest.param(Allele("2", 150, 151, "A", "C", "SNP"), False, id="other-chromosome"),
    ],
)  # fmt: skip
def test_range_overlap(allele: Allele, expected: bool) -> None:
    assert range_query(100, 200).matches(allele) is expected


A_TO_C = sequence_allele("1", 150, "A", "C")


@pytest.mark.parametrize(
    ("bases", "allele", "expected"),
    [
        ({"alternateBases": "C"}, sequence_allele("1", 150, "A", "C"), True),
        ({"alternateBases": "C"}, sequence_allele("1", 150, "A", "G"), False),
        ({"alternateBases": "N"}, sequence_allele("1", 150, "A", "G"), True),
        ({"alternateBases": "N"}, sequence_allele("1", 150, "A", "GG"), False),
        ({"alternateBases": "T"}, sequence_allele("1", 150, "A", "AT"), True),
        ({"alternateBases": ""}, sequence_allele("1", 150, "AT", "A"), True),
        ({"alternateBases": "C"}, sym(150, 160), False),
        ({"referenceBases": "A", "alternateBases": "C"}, A_TO_C, True),
        ({"referenceBases": "G", "alternateBases": "C"}, A_TO_C, False),
        ({"referenceBases": "N", "alternateBases": "C"}, A_TO_C, True),
        ({"referenceBases": "G"}, A_TO_C, False),
        ({"referenceBases": "A"}, A_TO_C, True),
    ],
)  # fmt: skip
def test_range_with_bases(bases: dict[str, str], allele: Allele, expected: bool) -> None:
    assert range_query(100, 200, **bases).matches(allele) is expected


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (100, 190, True),
        (109, 209, True),
        (105, 200, True),
        (99, 200, False),
        (110, 200, False),
        (105, 189, False),
        (105, 210, False),
    ],
)
def test_bracket_half_open_bounds(start: int, end: int, expected: bool) -> None:
    bracket = query(referenceName="1", start=[100, 110], end=[190, 210])
    assert bracket.matches(sym(start, end)) is expected


def test_bracket_narrowed_by_bases() -> None:
    bracket = query(referenceName="1", start=[100, 200], end=[100, 300], alternateBases="C")
    assert bracket.matches(sequence_allele("1", 150, "A", "C")) is True
    assert bracket.matches(sequence_allele("1", 150, "A", "G")) is False
    assert bracket.matches(sym(150, 250)) is False


def test_bracket_uses_symbolic_anchor() -> None:
    bracket = query(referenceName="1", start=[100, 110], end=[190, 210])
    assert bracket.matches(symbolic_allele("1", 99, "<DEL>", 190, None)) is True
    assert bracket.matches(symbolic_allele("1", 98, "<DEL>", 190, None)) is False


# --- matches(): variantType and length filters ----------------------------------------------

ALLELES = {
    "snv": sequence_allele("1", 150, "A", "C"),
    "mnp": sequence_allele("1", 150, "AC", "GT"),
    "ins": sequence_allele("1", 150, "A", "AT"),
    "del": sequence_allele("1", 150, "AT", "A"),
    "indel": sequence_allele("1", 150, "ACGT", "AG"),
    "sv_del": symbolic_allele("1", 149, "<DEL>", 400, None),
    "cn0": symbolic_allele("1", 149, "<CN0>", 400, None),
    "sv_dup": symbolic_allele("1", 149, "<DUP>", 400, None),
    "cn3": symbolic_allele("1", 149, "<CN3>", 400, None),
    "sv_cnv": symbolic_allele("1", 149, "<CNV>", 400, None),
    "sv_ins": symbolic_allele("1", 149, "<INS>", None, None),
    "inv": symbolic_allele("1", 149, "<INV>", 400, None),
}

TYPE_MATCHES = {
    "SNV": {"snv"},
    "snp": {"snv"},
    "SO:0001483": {"snv"},
    "MNP": {"mnp"},
    "MNV": {"mnp"},
    "INS": {"ins", "sv_ins"},
    "SO:0000667": {"ins", "sv_ins"},
    "DEL": {"del", "sv_del", "cn0"},
    "SO:0000159": {"del", "sv_del", "cn0"},
    "INDEL": {"ins", "del", "indel", "sv_ins", "sv_del", "cn0"},
    "DUP": {"sv_dup", "cn3"},
    "SO:1000035": {"sv_dup", "cn3"},
    "INV": {"inv"},
    "CNV": {"del", "sv_del", "cn0", "sv_dup", "cn3", "sv_cnv"},
    "EFO:0030066": {"del", "sv_del", "cn0", "sv_dup", "cn3", "sv_cnv"},
    "EFO:0030067": {"del", "sv_del", "cn0"},
    "EFO:0030068": {"del", "sv_del", "cn0"},
    "EFO:0030069": {"del", "sv_del", "cn0"},
    "efo:0030069": {"del", "sv_del", "cn0"},
    "EFO:0030070": {"sv_dup", "cn3"},
    "EFO:0030071": {"sv_dup", "cn3"},
    "EFO:0030072": {"sv_dup", "cn3"},
    "EFO:0030073": {"sv_dup", "cn3"},
}


@pytest.mark.parametrize(("vtype", "matched"), TYPE_MATCHES.items())
def test_variant_type_synonyms(vtype: str, matched: set[str]) -> None:
    asked = range_query(100, 200, variantType=vtype)
    assert {name for name, allele in ALLELES.items() if asked.matches(allele)} == matched


def test_variant_type_filters_sequence_queries() -> None:
    assert seq_query(150, "A", "C", variantType="SNV").matches(ALLELES["snv"]) is True
    assert seq_query(150, "A", "C", variantType="DEL").matches(ALLELES["snv"]) is False


@pytest.mark.parametrize(
    ("lengths", "allele", "expected"),
    [
        ({"variantMinLength": 2}, sequence_allele("1", 150, "A", "C"), False),
        ({"variantMinLength": 2}, sequence_allele("1", 150, "AAC", "A"), True),
        ({"variantMaxLength": 1}, sequence_allele("1", 150, "A", "C"), True),
        ({"variantMaxLength": 1}, sequence_allele("1", 150, "AAC", "A"), False),
        ({"variantMinLength": 50}, sequence_allele("1", 150, "A", "A" + "T" * 50), True),
        ({"variantMinLength": 50}, sequence_allele("1", 150, "A", "A" + "T" * 49), False),
        ({"variantMinLength": 100, "variantMaxLength": 100}, sym(150, 250), True),
        ({"variantMinLength": 100, "variantMaxLength": 100}, sym(150, 251), False),
        ({"variantMinLength": 100, "variantMaxLength": 100}, sym(150, 249), False),
        ({"variantMinLength": 0}, sym(150, 150, "<INS>", "INS"), True),
    ],
)
def test_length_filters(lengths: dict[str, int], allele: Allele, expected: bool) -> None:
    assert range_query(100, 200, **lengths).matches(allele) is expected


# --- canonical(), exact_key, wildcard -------------------------------------------------------

SAME_QUERIES = [
    pytest.param(
        [
            {"referenceName": "chr17", "assemblyId": "GRCh37"},
            {"referenceName": "17", "assemblyId": "hg19"},
            {"referenceName": "NC_000017.10"},
            {"referenceName": "refseq:NC_000017.10", "assemblyId": "GRCh37.p13"},
        ],
        {"start": [43045711], "referenceBases": "G", "alternateBases": "A"},
        id="chromosome-spellings",
    ),
    pytest.param(
        [
            {"start": [54], "referenceBases": "TATTTT", "alternateBases": "CATTTT"},
            {"start": [54], "referenceBases": "T", "alternateBases": "C"},
            {"start": [53], "referenceBases": "gt", "alternateBases": "gc"},
        ],
        {"referenceName": "MT"},
        id="padded-vs-trimmed",
    ),
    pytest.param(
        [
            {"start": [10], "referenceBases": "A", "alternateBases": "AT"},
            {"start": [11], "referenceBases": "", "alternateBases": "T"},
        ],
        {"referenceName": "1"},
        id="insertion-spellings",
    ),
    pytest.param(
        [{"variantType": "SNV"}, {"variantType": "snv"}, {"variantType": "SO:0001483"}],
        {"referenceName": "1", "start": [100], "end": [200]},
        id="variant-type-synonyms",
    ),
    pytest.param(
        [{"variantType": "DEL"}, {"variantType": "EFO:0030067"}],
        {"referenceName": "1", "start": [100], "end": [200]},
        id="variant-type-efo",
    ),
]


@pytest.mark.parametrize(("variants", "common"), SAME_QUERIES)
def test_canonical_equal_for_same_query(
    variants: list[dict[str, Any]], common: dict[str, Any]
) -> None:
    canonicals = {query(**common, **variant).canonical() for variant in variants}
    assert len(canonicals) == 1


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param({"referenceName": "17"}, {"referenceName": "NC_000017.10"},
                     id="assembly-unknown-vs-implied"),
        pytest.param({"referenceName": "NC_000017.10"}, {"referenceName": "NC_000017.11"},
                     id="other-assembly"),
        pytest.param({"referenceName": "17"}, {"referenceName": "18"}, id="other-chromosome"),
        pytest.param({"referenceName": "17", "variantType": "DEL"},
                     {"referenceName": "17", "variantType": "DUP"}, id="other-type"),
        pytest.param({"referenceName": "17", "variantMinLength": 1}, {"referenceName": "17"},
                     id="length-filter"),
    ],
)  # fmt: skip
def test_canonical_differs_for_different_queries(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    span = {"start": [100], "end": [200]}
    assert query(**first, **span).canonical() != query(**second, **span).canonical()


def test_canonical_content() -> None:
    asked = query(
        referenceName="chrM",
        start=[54],
        referenceBases="TATTTT",
        alternateBases="CATTTT",
        variantType="snv",
        assemblyId="hg19",
    )
    assert json.loads(asked.canonical()) == {
        "kind": "sequence",
        "chrom": "MT",
        "assembly": "GRCh37",
        "start": 54,
        "end": 55,
        "ref": "T",
        "alt": "C",
        "start_max": None,
        "end_min": None,
        "variant_types": ["SNP"],
        "min_length": None,
        "max_length": None,
    }


@pytest.mark.parametrize(
    ("asked", "key", "wildcard"),
    [
        (seq_query(54, "TATTTT", "CATTTT", "chrM"), "MT_54_T_C", False),
        (seq_query(10, "A", "AT"), "1_11_-_T", False),
        (seq_query(10, "AT", "A"), "1_11_T_-", False),
        (seq_query(54, "T", "N", "MT"), None, True),
        (seq_query(54, "N", "C", "MT"), None, True),
        (range_query(100, 200), None, False),
        (range_query(100, 200, alternateBases="N"), None, True),
        (query(referenceName="1", start=[100, 110], end=[190, 210]), None, False),
    ],
)
def test_exact_key_and_wildcard(asked: AlleleQuery, key: str | None, wildcard: bool) -> None:
    assert (asked.exact_key, asked.wildcard) == (key, wildcard)


# --- parse_short_form -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("17-43045712-G-A", ("17", 43045711, "G", "A")),
        ("chr17:43045712:g>a", ("17", 43045711, "G", "A")),
        ("CHR17_43045712_G/A", ("17", 43045711, "G", "A")),
        ("  X 100 A T  ", ("X", 99, "A", "T")),
        ("MT-55-TATTTT-CATTTT", ("MT", 54, "TATTTT", "CATTTT")),
        ("chrM-55-T-C", ("M", 54, "T", "C")),
        ("1-1-A-N", ("1", 0, "A", "N")),
    ],
)
def test_parse_short_form(text: str, expected: tuple[str, int, str, str]) -> None:
    chrom, start, ref, alt = expected
    assert parse_short_form(text) == {
        "referenceName": chrom,
        "start": [start],
        "referenceBases": ref,
        "alternateBases": alt,
    }


def test_short_form_reaches_the_same_query() -> None:
    via_short = parse_query(parse_short_form("chrM-55-TATTTT-CATTTT"), max_span=MAX_SPAN)
    assert via_short == AlleleQuery(SEQ, "MT", None, 54, 55, "T", "C")


@pytest.mark.parametrize(
    "text", ["17-43045712-G", "rs80357906", "17-abc-G-A", "17-1-X-A", "17-1-G-", "chrUn-1-A-C", ""]
)
def test_parse_short_form_refuses(text: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_short_form(text)
    assert caught.value.message == (
        f"cannot read {text!r}: write CHROM-POS-REF-ALT, e.g. 17-43045712-G-A"
    )


def test_parse_short_form_refuses_position_zero() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_short_form("17-0-G-A")
    assert caught.value.message == "VCF positions start at 1"
