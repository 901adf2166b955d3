"""VCF ingest: parsing (vcf.py) and atomic per-dataset loading (load.py)."""
