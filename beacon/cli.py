"""The `beacon` command: serve, ingest, demo, query and config check."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path

from aiohttp import web

from beacon.config import Settings, load_network, load_settings
from beacon.errors import BeaconError, ConfigError, IngestError
from beacon.ingest.load import IngestSummary, ingest_vcf
from beacon.ingest.progress import Progress
from beacon.node.app import create_node_app
from beacon.store.connect import database

log = logging.getLogger("beacon")


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(os.environ, args.config)
    overrides = {k: getattr(args, k) for k in ("host", "port") if getattr(args, k, None)}
    if overrides:
        settings = Settings(**{**settings.__dict__, **overrides})
    return settings


def serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    web.run_app(
        create_node_app(settings),
        host=settings.host,
        port=settings.port,
        print=lambda _: print(
            f"Beacon node on http://{settings.host}:{settings.port}/", file=sys.stderr
        ),
    )
    return 0


def aggregate(args: argparse.Namespace) -> int:
    from beacon.aggregator.app import create_aggregator_app

    if args.config is None:
        raise ConfigError(["beacon aggregate needs --config network.toml (its member beacons)"])
    settings, network = load_network(os.environ, args.config)
    overrides = {k: getattr(args, k) for k in ("host", "port") if getattr(args, k, None)}
    settings = replace(settings, **overrides)
    if args.check:
        print(f"configuration is valid: {len(network.members)} members")
        for m in network.members:
            token = ", own token" if m.token else ""
            print(f"  {m.id} ({m.country}) {m.base} timeout {m.timeout:g} s{token}")
        return 0
    app = create_aggregator_app(settings, network, args.config, reload_on_sighup=True)
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        print=lambda _: print(
            f"Beacon aggregator over {len(network.members)} member"
            f"{'' if len(network.members) == 1 else 's'} on "
            f"http://{settings.host}:{settings.port}/",
            file=sys.stderr,
        ),
    )
    return 0


def describe(summary: IngestSummary) -> str:
    lines = [
        f"dataset {summary.dataset}: release {summary.release} published",
        f"  {summary.records:,} records, {summary.alleles:,} alleles, {summary.samples:,} "
        f"samples in {summary.seconds:.1f} s ({summary.alleles_per_second:,.0f} alleles/s)",
    ]
    if summary.counts_source != "genotypes":
        lines.append(
            "  no genotypes in this file: counts taken from INFO/AC and INFO/AN; "
            "carrier counts are unavailable"
        )
    lines += [f"  skipped {count:,}: {reason}" for reason, count in summary.skipped.items()]
    return "\n".join(lines)


async def _ingest(settings: Settings, args: argparse.Namespace) -> IngestSummary:
    async with database(settings) as client:
        return await ingest_vcf(
            client[settings.db_name],
            args.vcf,
            dataset=args.dataset,
            assembly=args.assembly,
            name=args.name,
            description=args.description or "",
            progress=Progress(None),
            batch_size=args.batch_size,
        )


def ingest(args: argparse.Namespace) -> int:
    summary = asyncio.run(_ingest(_settings(args), args))
    print(describe(summary))
    return 0


async def _reference(settings: Settings, args: argparse.Namespace) -> str:
    from beacon.ingest.reference import load_reference

    async with database(settings) as client:
        summary = await load_reference(
            client[settings.db_name], args.vcf, assembly=args.assembly, progress=Progress(None)
        )
    lines = [
        f"reference frequencies for {summary.assembly}: {summary.alleles:,} alleles from "
        f"{summary.records:,} records in {summary.seconds:.1f} s (replaces any earlier load)"
    ]
    lines += [f"  skipped {count:,}: {reason}" for reason, count in summary.skipped.items()]
    return "\n".join(lines)


def reference(args: argparse.Namespace) -> int:
    print(asyncio.run(_reference(_settings(args), args)))
    return 0


def config_check(args: argparse.Namespace) -> int:
    settings = _settings(args)
    print(f"configuration is valid: {settings!r}")
    return 0


_RECORD_FIELDS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class _FieldsFormatter(logging.Formatter):
    """Appends a record's structured `extra` fields as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS}
        text = super().format(record)
        return text + "".join(f" {k}={v}" for k, v in fields.items())


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _config_option(command: argparse.ArgumentParser) -> None:
    """`--config` after the command too; SUPPRESS keeps one given before it from being reset."""
    command.add_argument(
        "--config", type=Path, default=argparse.SUPPRESS, help="TOML configuration file"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="beacon", description=__doc__)
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="run a Beacon v2 node")
    _config_option(run)
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.set_defaults(func=serve)
    network = commands.add_parser(
        "aggregate", help="run an aggregator over member beacons (--config network.toml)"
    )
    _config_option(network)
    network.add_argument("--host")
    network.add_argument("--port", type=int)
    network.add_argument("--check", action="store_true", help="validate the config and exit")
    network.set_defaults(func=aggregate)
    load = commands.add_parser("ingest", help="load a VCF as a dataset (replaces it atomically)")
    _config_option(load)
    load.add_argument("vcf", type=Path)
    load.add_argument("--dataset", required=True, help="dataset id")
    load.add_argument("--assembly", required=True, help="GRCh37 (hg19) or GRCh38 (hg38)")
    load.add_argument("--name", help="human-readable dataset name")
    load.add_argument("--description")
    load.add_argument("--batch-size", type=_positive, default=5000, help="alleles per insert")
    load.set_defaults(func=ingest)
    frequencies = commands.add_parser(
        "reference", help="reference population frequencies for the PUBLIC gate"
    ).add_subparsers(required=True)
    load_ref = frequencies.add_parser(
        "load", help="load a sites VCF's INFO/AF (or AC/AN), e.g. gnomAD's, for one assembly"
    )
    _config_option(load_ref)
    load_ref.add_argument("vcf", type=Path)
    load_ref.add_argument("--assembly", required=True, help="GRCh37 (hg19) or GRCh38 (hg38)")
    load_ref.set_defaults(func=reference)
    check = commands.add_parser("config", help="configuration").add_subparsers(required=True)
    validate = check.add_parser("check", help="validate settings and config file")
    _config_option(validate)
    validate.set_defaults(func=config_check)
    from beacon.client import add_query_command
    from beacon.demo import add_demo_commands

    add_demo_commands(commands)
    add_query_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(_FieldsFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, handlers=[handler])
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(
            "configuration problems:\n" + "\n".join(f"- {p}" for p in exc.problems), file=sys.stderr
        )
    except (IngestError, BeaconError) as exc:
        print(f"error: {exc}", file=sys.stderr)
    except OSError as exc:  # e.g. the port is taken; the message says which address
        print(f"error: {exc.strerror or exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 2
