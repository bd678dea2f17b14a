"""The shell scripts under scripts/ and the Redocly tooling files.

The scripts' real work (apt, PostgreSQL, Redis, building pgvector) runs in the README's setup
command; here: syntax, the package-list convention and the apt-sources parsing, on fixtures.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
ENSURE = SCRIPTS / "ensure-services.sh"
INSTALL = SCRIPTS / "install-system-packages.sh"


def _bash(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("script", [ENSURE, INSTALL])
def test_script_is_executable_strict_bash(script: Path) -> None:
    assert os.access(script, os.X_OK), f"{script.name} is not executable"
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


PACKAGES = """\
# runtime packages
ffmpeg            # media probing
espeak-ng

# test-only
sox   # a comment
# not a marker: test-only packages follow
xvfb
"""


def test_package_list_convention(tmp_path: Path) -> None:
    listing = tmp_path / "apt-packages.txt"
    listing.write_text(PACKAGES)
    every = subprocess.run(
        [str(INSTALL), "--list", str(listing)], capture_output=True, text=True, check=True
    )
    assert every.stdout.split() == ["ffmpeg", "espeak-ng", "sox", "xvfb"]
    runtime = subprocess.run(
        [str(INSTALL), "--runtime-only", "--list", str(listing)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert runtime.stdout.split() == ["ffmpeg", "espeak-ng"]


def test_package_install_is_a_no_op_when_all_are_installed(tmp_path: Path) -> None:
    listing = tmp_path / "apt-packages.txt"
    listing.write_text("bash\ncoreutils\n")  # essential packages: installed on every Debian
    result = subprocess.run([str(INSTALL), str(listing)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "all 2 installed" in result.stdout


def test_the_project_package_list_parses() -> None:
    listing = SCRIPTS / "apt-packages.txt"
    if not listing.exists():
        pytest.skip("scripts/apt-packages.txt not written yet")
    result = subprocess.run(
        [str(INSTALL), "--runtime-only", "--list", str(listing)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    for name in result.stdout.split():
        assert re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", name), name


def _deb_src_lines(apt_etc: Path, *args: str) -> list[str]:
    result = _bash(
        f'source "{ENSURE}"; system_deb_src_lines ' + " ".join(args), APT_ETC=str(apt_etc)
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_deb_src_entries_follow_the_system_sources(tmp_path: Path) -> None:
    parts = tmp_path / "sources.list.d"
    parts.mkdir()
    (parts / "debian.sources").write_text(
        "Types: deb\n"
        "# a comment\n"
        "URIs: http://mirror.example/debian\n"
        "Suites: bookworm bookworm-updates\n"
        "Components: main contrib\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        "\n"
        "Types: deb\n"
        "URIs: http://mirror.example/debian-security\n"
        "Suites: bookworm-security\n"
        "Components: main\n"
        "\n"
        "Types: deb\n"
        "Enabled: no\n"
        "URIs: http://disabled.example/debian\n"
        "Suites: bookworm\n"
        "Components: main\n"
    )
    (tmp_path / "sources.list").write_text(
        "# comment\ndeb [arch=amd64] http://old.example/debian bookworm main # tail\n"
        "deb-src http://old.example/debian bookworm main\n"
    )
    lines = _deb_src_lines(tmp_path, "bookworm")
    assert lines == [
        "deb-src [arch=amd64] http://old.example/debian bookworm main",
        "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        "http://mirror.example/debian bookworm main contrib",
        "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        "http://mirror.example/debian bookworm-updates main contrib",
        "deb-src http://mirror.example/debian-security bookworm-security main",
    ]
    # Newer releases: only on the archives that carry the system's own release.
    newer = _deb_src_lines(tmp_path, "bookworm", "trixie", "forky")
    assert newer == [
        "deb-src [arch=amd64] http://old.example/debian trixie main",
        "deb-src [arch=amd64] http://old.example/debian forky main",
        "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        "http://mirror.example/debian trixie main contrib",
        "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        "http://mirror.example/debian forky main contrib",
    ]


def test_no_archive_host_is_written_in_the_scripts() -> None:
    for script in (ENSURE, INSTALL):
        hosts = re.findall(r"https?://[^\s\"']+", script.read_text())
        assert hosts == [], f"{script.name} names {hosts}"


# ------------------------------------------------------------------------------------- Redocly
def test_redocly_cli_is_pinned_and_locked() -> None:
    package = json.loads((ROOT / "package.json").read_text())
    version = package["devDependencies"]["@redocly/cli"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), version
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/@redocly/cli"]["version"] == version
    for entry in lock["packages"].values():
        resolved = entry.get("resolved")
        assert resolved is None or resolved.startswith("https://registry.npmjs.org/"), resolved
    scripts = package["scripts"]
    assert "redocly build-docs docs/openapi.json" in scripts["docs:build"]
    assert "--inlineBundle" in scripts["docs:build"]
    assert "--output docs/index.html" in scripts["docs:build"]
    assert "redocly lint docs/openapi.json" in scripts["docs:lint"]
    for command in scripts.values():
        assert command.startswith("REDOCLY_TELEMETRY=off ")


def test_redocly_config() -> None:
    config = yaml.safe_load((ROOT / "redocly.yaml").read_text())
    assert "recommended" in config["extends"]
    assert config["apis"]["ticketcreator@v1"]["root"] == "docs/openapi.json"


FAKE_POETRY = """#!/usr/bin/env bash
# `poetry run ticketcreator <command>`: set-up commands succeed, the three programs run as a
# child of this wrapper (as the real poetry and celery do) until stopped.
case "$3" in
  worker|beat|serve) sleep 300 & echo "$!" >> "$PROGRAM_PIDS"; wait ;;
  *) exit 0 ;;
esac
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def _default_signals() -> None:
    """The script starts as from a terminal, whatever the test runner inherited: a shell
    cannot trap a signal ignored when it started, and a runner started in the background by
    a non-interactive shell ignores SIGINT."""
    import signal

    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, signal.SIG_DFL)


@pytest.mark.parametrize("signal_name", ["TERM", "INT", "HUP"])
def test_run_script_stopped_by_a_signal_stops_the_programs_it_started(
    signal_name: str, tmp_path: Path
) -> None:
    import signal
    import time

    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "run.sh").write_text((SCRIPTS / "run.sh").read_text())
    (scripts / "bootstrap.sh").write_text("#!/usr/bin/env bash\nexit 0\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "poetry").write_text(FAKE_POETRY)
    for script in (scripts / "run.sh", scripts / "bootstrap.sh", bin_dir / "poetry"):
        script.chmod(0o755)
    pids_file = tmp_path / "pids"
    pids_file.touch()
    script = subprocess.Popen(
        [str(scripts / "run.sh")],
        env={
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "PROGRAM_PIDS": str(pids_file),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_default_signals,
    )
    try:
        deadline = time.monotonic() + 20
        while len(pids_file.read_text().split()) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        programs = [int(pid) for pid in pids_file.read_text().split()]
        assert len(programs) == 3
        script.send_signal(getattr(signal, f"SIG{signal_name}"))
        assert script.wait(timeout=20) != 0
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in programs) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [pid for pid in programs if _alive(pid)] == []
    finally:
        script.kill()
        for pid in [int(pid) for pid in pids_file.read_text().split()]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_readme_idempotency_keys_come_from_what_every_linux_has() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"Idempotency-Key: \$\(([^)]*)\)", readme)
    assert commands, "the quickstart sends an Idempotency-Key"
    for command in commands:
        result = _bash(command, PATH="/usr/bin:/bin")
        assert result.returncode == 0, result.stderr
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}\n", result.stdout
        )
