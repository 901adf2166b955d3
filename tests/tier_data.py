"""The three-tier data set of the access tests (node and aggregator): datasets open (PUBLIC), reg
(REGISTERED) and ctl (CONTROLLED, granted by DATASET), each holding 1-100-A-G (carried by s1 and
s2) and one allele of its own (carried by s3)."""

from __future__ import annotations

from beacon.auth import AccessPolicy, Tier
from tests.auth_support import DATASET

POLICY = AccessPolicy(
    enforced=True,
    levels={"open": Tier.PUBLIC, "reg": Tier.REGISTERED, "ctl": Tier.CONTROLLED},
    grants={"ctl": DATASET},
)

SHARED = {"referenceName": "1", "start": "99", "referenceBases": "A", "alternateBases": "G"}
OWN = {"open": ("199", "G", "A"), "reg": ("299", "T", "C"), "ctl": ("399", "C", "T")}


def rows(dataset: str) -> list[str]:
    """The VCF rows of one dataset."""
    start, ref, alt = OWN[dataset]
    return [
        "1 100 . A G . PASS . GT 0/1 1/1 0/0 0/0",
        f"1 {int(start) + 1} . {ref} {alt} . PASS . GT 0/0 0/0 0/1 0/0",
    ]


def own(dataset: str) -> dict[str, str]:
    """A query for the allele only `dataset` holds."""
    start, ref, alt = OWN[dataset]
    return {**SHARED, "start": start, "referenceBases": ref, "alternateBases": alt}
