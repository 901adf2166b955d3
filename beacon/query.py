"""Alleles and allele queries: the one place coordinate and allele rules live.

Positions are 0-based, half-open. Alleles are stored and queried in one normalised form: the
shared suffix, then the shared prefix, of REF and ALT are trimmed (VRS-style, so either may become
empty) and the start moves past the trimmed prefix. No reference genome is used, so indels are not
left-aligned: two spellings of one indel meet only if trimming makes them equal.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from beacon.assemblies import canonical_assembly, canonical_chromosome
from beacon.errors import InvalidRequest

LONG_VARIANT = 1000
"""Alleles spanning more bases than this are stored as `long`, so range scans stay short."""

_BASES = re.compile(r"^[ACGTN]*$")
_SYMBOLIC = re.compile(r"^<([A-Z0-9_:]+)>$")
_SYMBOLIC_TYPES = {
    "DEL": "DEL",
    "DUP": "DUP",
    "INS": "INS",
    "INV": "INV",
    "CNV": "CNV",
    "BND": "BND",
    "CN0": "DEL",
    "CN1": "DEL",
    "CN2": "CNV",
}

# Query variantType -> the stored types it matches.
_TYPE_QUERY = {
    "SNP": {"SNP"},
    "SNV": {"SNP"},
    "MNP": {"MNP"},
    "MNV": {"MNP"},
    "INS": {"INS"},
    "DEL": {"DEL"},
    "INDEL": {"INS", "DEL", "INDEL"},
    "DUP": {"DUP"},
    "INV": {"INV"},
    "BND": {"BND"},
    "CNV": {"CNV", "DEL", "DUP"},
    # EFO copy number terms: 0030066 relative CNV; 0030067-69 losses; 0030070-73 gains.
    "EFO:0030066": {"CNV", "DEL", "DUP"},
    "EFO:0030067": {"DEL"},
    "EFO:0030068": {"DEL"},
    "EFO:0030069": {"DEL"},
    "EFO:0030070": {"DUP"},
    "EFO:0030071": {"DUP"},
    "EFO:0030072": {"DUP"},
    "EFO:0030073": {"DUP"},
    "SO:0001483": {"SNP"},
    "SO:0000159": {"DEL"},
    "SO:0000667": {"INS"},
    "SO:1000035": {"DUP"},
}


@dataclass(frozen=True, slots=True)
class Allele:
    """One normalised allele on a canonical chromosome; `alt` may be symbolic (`<DEL>`)."""

    chrom: str
    start: int
    end: int
    ref: str
    alt: str
    variant_type: str

    @property
    def symbolic(self) -> bool:
        return self.alt.startswith("<")

    @property
    def length(self) -> int:
        """Bases affected: deleted or inserted length for indels, span for structural variants."""
        if self.symbolic:
            return max(self.end - self.start, 1)
        return max(len(self.ref), len(self.alt), 1)

    @property
    def long(self) -> bool:
        return self.end - self.start > LONG_VARIANT

    @property
    def key(self) -> str:
        """Stable, URL-safe id of the allele; the same in every dataset of one assembly."""
        if self.symbolic:
            return f"{self.chrom}_{self.start}_{self.end}_{self.alt.strip('<>').replace(':', '.')}"
        body = f"{self.ref or '-'}_{self.alt or '-'}"
        if len(body) > 64:
            body = "h" + hashlib.sha1(body.encode(), usedforsecurity=False).hexdigest()[:20]
            return f"{self.chrom}_{self.start}_{self.end}_{body}"
        return f"{self.chrom}_{self.start}_{body}"


def trim(start: int, ref: str, alt: str) -> tuple[int, str, str]:
    """Trim the shared suffix, then the shared prefix; returns the moved 0-based start."""
    while ref and alt and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    cut = 0
    while cut < len(ref) and cut < len(alt) and ref[cut] == alt[cut]:
        cut += 1
    return start + cut, ref[cut:], alt[cut:]


def sequence_type(ref: str, alt: str) -> str:
    """Beacon variantType of a trimmed sequence allele."""
    if len(ref) == len(alt):
        return "SNP" if len(ref) == 1 else "MNP"
    if not ref:
        return "INS"
    return "DEL" if not alt else "INDEL"


def sequence_allele(chrom: str, start: int, ref: str, alt: str) -> Allele:
    """A sequence allele written at 0-based `start` (VCF-style padding allowed), normalised."""
    s, r, a = trim(start, ref, alt)
    return Allele(chrom, s, s + len(r), r, a, sequence_type(r, a))


def symbolic_allele(
    chrom: str, anchor: int, alt: str, end: int | None, svlen: int | None
) -> Allele:
    """A symbolic allele (`<DEL>`, `<CN0>`...) whose padding base is at 0-based `anchor`.

    The event covers [anchor + 1, END) in 0-based half-open terms (VCF END is 1-based inclusive).
    Raises ValueError when the allele is not a symbolic allele we understand.
    """
    match = _SYMBOLIC.match(alt)
    if not match:
        raise ValueError(f"not a symbolic allele: {alt!r}")
    name = match.group(1)
    base = name.split(":", 1)[0]
    if base.startswith("CN") and base[2:].isdigit():
        vtype = _SYMBOLIC_TYPES.get(base, "DUP")
    else:
        vtype = _SYMBOLIC_TYPES.get(base, "SV")
    start = anchor + 1
    if end is None or end < start:
        end = start + abs(svlen) if svlen else (start if vtype == "INS" else start + 1)
    return Allele(chrom, start, end, "", alt, vtype)


def bases_match(pattern: str, bases: str) -> bool:
    """Equal length and equal base by base, `N` on either side matching anything."""
    if len(pattern) != len(bases):
        return False
    return all(p == b or p == "N" or b == "N" for p, b in zip(pattern, bases, strict=True))


class QueryKind(StrEnum):
    SEQUENCE = "sequence"
    RANGE = "range"
    BRACKET = "bracket"


@dataclass(frozen=True, slots=True)
class AlleleQuery:
    """One validated g_variants query.

    SEQUENCE: `ref`/`alt` as asked (normalised when free of `N`), covering [start, end).
    RANGE: any allele overlapping [start, end). BRACKET: start in [start, start_max), end in
    [end_min, end). `assembly` is canonical or None (then every dataset is searched).
    """

    kind: QueryKind
    chrom: str
    assembly: str | None
    start: int
    end: int
    ref: str | None = None
    alt: str | None = None
    start_max: int | None = None
    end_min: int | None = None
    variant_types: frozenset[str] | None = None
    variant_type: str | None = None
    min_length: int | None = None
    max_length: int | None = None

    @property
    def wildcard(self) -> bool:
        return "N" in (self.ref or "") or "N" in (self.alt or "")

    @property
    def exact_key(self) -> str | None:
        """The allele id this query names, when it names exactly one (sequence, no `N`)."""
        if self.kind is not QueryKind.SEQUENCE or self.wildcard:
            return None
        assert self.ref is not None and self.alt is not None
        return sequence_allele(self.chrom, self.start, self.ref, self.alt).key

    def matches(self, allele: Allele) -> bool:
        """Whether a stored allele answers this query (the rule every store must agree with)."""
        if allele.chrom != self.chrom or not self._length_ok(allele):
            return False
        if self.variant_types is not None and allele.variant_type not in self.variant_types:
            return False
        if self.kind is QueryKind.SEQUENCE:
            return self._sequence_matches(allele)
        if self.kind is QueryKind.BRACKET:
            assert self.start_max is not None and self.end_min is not None
            return (
                self.start <= allele.start < self.start_max
                and self.end_min <= allele.end < self.end
                and self._bases_ok(allele)
            )
        overlaps = allele.start < self.end and max(allele.end, allele.start + 1) > self.start
        return overlaps and self._bases_ok(allele)

    def _length_ok(self, allele: Allele) -> bool:
        if self.min_length is not None and allele.length < self.min_length:
            return False
        return self.max_length is None or allele.length <= self.max_length

    def _bases_ok(self, allele: Allele) -> bool:
        """Range and bracket narrowing by the normalised referenceBases/alternateBases (N-aware)."""
        if self.ref is not None and not bases_match(self.ref, allele.ref):
            return False
        return self.alt is None or (not allele.symbolic and bases_match(self.alt, allele.alt))

    def _sequence_matches(self, allele: Allele) -> bool:
        """The allele applied to the query's REF span gives the query's ALT (N-aware)."""
        assert self.ref is not None and self.alt is not None
        if allele.symbolic:
            return False
        offset = allele.start - self.start
        if offset < 0 or allele.end > self.end:
            return False
        ref = self.ref
        if not bases_match(ref[offset : offset + len(allele.ref)], allele.ref):
            return False
        applied = ref[:offset] + allele.alt + ref[offset + len(allele.ref) :]
        return bases_match(self.alt, applied)

    def canonical(self, *, assembly: bool = True) -> str:
        """A string equal for equal queries however they were written (for caches and keys).

        `assembly=False` leaves the assembly out, for keys that also name a dataset (which has
        one assembly): asking with or without `assemblyId` is then the same question.
        """
        fields = {name: getattr(self, name) for name in self.__slots__}
        del fields["variant_type"]  # as spelled; `variant_types` carries its meaning
        if not assembly:
            del fields["assembly"]
        if fields["variant_types"] is not None:
            fields["variant_types"] = sorted(fields["variant_types"])
        return json.dumps(fields, sort_keys=True, default=str)


def parse_query(params: Mapping[str, Any], *, max_span: int) -> AlleleQuery:
    """Request parameters (already schema-checked, `start`/`end` as lists) -> AlleleQuery.

    Raises InvalidRequest for combinations the spec does not define or this beacon cannot answer.
    """
    for name in ("geneId", "aminoacidChange", "genomicAlleleShortForm", "mateName"):
        if params.get(name) not in (None, ""):
            raise InvalidRequest(f"{name} queries are not supported by this beacon")
    if params.get("referenceName") in (None, ""):
        raise InvalidRequest("referenceName is required")
    chrom, implied = canonical_chromosome(str(params["referenceName"]))
    assembly = _query_assembly(params.get("assemblyId"), implied)
    starts, ends = list(params.get("start") or []), list(params.get("end") or [])
    common = _common_filters(params)
    if len(starts) == 1 and not ends:
        return _sequence_query(chrom, assembly, starts[0], params, common)
    if len(starts) == 1 and len(ends) == 1:
        return _range_query(chrom, assembly, starts[0], ends[0], params, common, max_span)
    if len(starts) == 2 and len(ends) == 2:
        bases = (_bases(params, "referenceBases"), _bases(params, "alternateBases"))
        return _bracket_query(chrom, assembly, starts, ends, bases, common, max_span)
    raise InvalidRequest(
        "give start alone (sequence query), start and end (range query), "
        "or two starts and two ends (bracket query)"
    )


def _query_assembly(asked: Any, implied: str | None) -> str | None:
    assembly = canonical_assembly(str(asked)) if asked not in (None, "") else None
    if assembly and implied and assembly != implied:
        raise InvalidRequest(f"referenceName is a {implied} accession but assemblyId is {assembly}")
    return assembly or implied


def _common_filters(params: Mapping[str, Any]) -> dict[str, Any]:
    vtype = params.get("variantType")
    types = None
    if vtype not in (None, ""):
        key = str(vtype).upper() if not str(vtype).startswith(("EFO", "SO")) else str(vtype)
        if key not in _TYPE_QUERY:
            raise InvalidRequest(f"unknown variantType {vtype!r}; known: {', '.join(_TYPE_QUERY)}")
        types = frozenset(_TYPE_QUERY[key])
    low, high = params.get("variantMinLength"), params.get("variantMaxLength")
    if low is not None and high is not None and low > high:
        raise InvalidRequest("variantMinLength is greater than variantMaxLength")
    return {
        "variant_types": types,
        "variant_type": vtype or None,
        "min_length": low,
        "max_length": high,
    }


def _bases(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    text = str(value).upper()
    if not _BASES.match(text):
        raise InvalidRequest(f"{name} must be DNA bases (A, C, G, T, N), got {value!r}")
    return text


def _sequence_query(
    chrom: str, assembly: str | None, start: int, params: Mapping[str, Any], common: dict[str, Any]
) -> AlleleQuery:
    ref, alt = _bases(params, "referenceBases"), _bases(params, "alternateBases")
    if ref is None or alt is None:
        raise InvalidRequest(
            "a query with start and no end needs referenceBases and alternateBases"
        )
    if ref == alt and "N" not in ref:
        raise InvalidRequest("referenceBases and alternateBases are equal: that is not a variant")
    if "N" not in ref + alt:
        start, ref, alt = trim(start, ref, alt)
    return AlleleQuery(
        QueryKind.SEQUENCE, chrom, assembly, start, start + len(ref), ref, alt, **common
    )


def _range_query(
    chrom: str,
    assembly: str | None,
    start: int,
    end: int,
    params: Mapping[str, Any],
    common: dict[str, Any],
    max_span: int,
) -> AlleleQuery:
    if end <= start:
        raise InvalidRequest(f"end ({end}) must be greater than start ({start})")
    if end - start > max_span:
        raise InvalidRequest(
            f"range of {end - start} bases is wider than this beacon's limit of {max_span}"
        )
    return AlleleQuery(
        QueryKind.RANGE,
        chrom,
        assembly,
        start,
        end,
        _bases(params, "referenceBases"),
        _bases(params, "alternateBases"),
        **common,
    )


def _bracket_query(
    chrom: str,
    assembly: str | None,
    starts: list[int],
    ends: list[int],
    bases: tuple[str | None, str | None],
    common: dict[str, Any],
    max_span: int,
) -> AlleleQuery:
    if starts[1] <= starts[0] or ends[1] <= ends[0]:
        raise InvalidRequest(
            "bracket bounds must be increasing: start[0] < start[1], end[0] < end[1]"
        )
    if ends[1] <= starts[0]:
        raise InvalidRequest("bracket end range lies before its start range")
    if ends[1] - starts[0] > max_span:
        raise InvalidRequest(f"bracket spans more than this beacon's limit of {max_span} bases")
    return AlleleQuery(
        QueryKind.BRACKET,
        chrom,
        assembly,
        starts[0],
        ends[1],
        *bases,
        start_max=starts[1],
        end_min=ends[0],
        **common,
    )


_SHORT_FORM = re.compile(
    r"^(?:chr)?([0-9XYMT]+)[-:_ ](\d+)[-:_ ]([ACGTN]+)[-:_ >/]([ACGTN]+)$", re.IGNORECASE
)


def parse_short_form(text: str) -> dict[str, Any]:
    """`17-43045712-G-A` (1-based VCF position) -> g_variants request parameters."""
    match = _SHORT_FORM.match(text.strip())
    if not match:
        raise InvalidRequest(f"cannot read {text!r}: write CHROM-POS-REF-ALT, e.g. 17-43045712-G-A")
    chrom, pos, ref, alt = match.groups()
    if int(pos) < 1:
        raise InvalidRequest("VCF positions start at 1")
    return {
        "referenceName": chrom,
        "start": [int(pos) - 1],
        "referenceBases": ref.upper(),
        "alternateBases": alt.upper(),
    }
