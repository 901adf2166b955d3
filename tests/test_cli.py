"""The `beacon` command as a user runs it: one-line errors, never tracebacks."""

import asyncio
import os
import socket
import sys


async def run_beacon(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "beacon",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_serve_on_a_taken_port_is_a_one_line_error(mongo_uri, db_name):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = await run_beacon(
            "serve", "--port", str(port), env={"BEACON_MONGO_URI": mongo_uri, "BEACON_DB": db_name}
        )
    assert (code, out) == (2, "")
    assert (
        err == f"error: error while attempting to bind on address ('127.0.0.1', {port}): "
        "address already in use\n"
    )


async def test_config_problems_are_listed_together(tmp_path):
    config = tmp_path / "node.toml"
    config.write_text('[server]\nport = "x"\n[limits]\ndefault_limit = 0\n')
    code, out, err = await run_beacon("--config", str(config), "config", "check", env={})
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "configuration problems:",
        f"- {config}: limits/default_limit: 0 is less than the minimum of 1",
        f"- {config}: server/port: 'x' is not of type 'integer'",
    ]
