"""`beacon demo` and `beacon query`: a local node on simulated data, and a terminal client."""

from __future__ import annotations

from typing import Any


def add_demo_commands(commands: Any) -> None:
    """Registered by cli.py; the demo's heavy imports happen only when it runs."""
