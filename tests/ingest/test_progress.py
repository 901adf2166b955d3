"""The ingest progress bar: drawn on terminals only, with a percentage when the VCF is indexed."""

import io

from beacon.ingest.progress import Progress
from tests.conftest import CHR1, write_vcf


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_indexed_vcf_gets_a_percentage_bar(ingest):
    screen = Terminal()
    await ingest(CHR1, "chr1", progress=Progress(None, screen))
    last = screen.getvalue().split("\r")[-1]
    assert last.startswith("[" + "#" * 30 + "] 100.0%  1,044 alleles")
    assert screen.getvalue().endswith("\n")


async def test_unindexed_vcf_counts_records(ingest, tmp_path):
    screen = Terminal()
    vcf = write_vcf(tmp_path / "a.vcf", ["1 100 . A G,T . PASS . GT 0/1 0/2 0/0 0/0"])
    await ingest(vcf, "a", progress=Progress(None, screen))
    assert screen.getvalue().split("\r")[-1].startswith("1 records  2 alleles")


def test_nothing_is_drawn_when_not_a_terminal():
    stream = io.StringIO()
    bar = Progress(10, stream)
    bar.update(5, 5, force=True)
    bar.close()
    assert stream.getvalue() == ""
