"""The extension's own unit tests (node's test runner) and its locked, pinned npm packages."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

from tests.extension.conftest import EXTENSION


def test_the_extension_s_unit_tests_pass() -> None:
    assert shutil.which("node"), "node is required (scripts/bootstrap.sh installs it)"
    done = subprocess.run(
        ["node", "--test", "test/"], cwd=EXTENSION, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert re.search(r"^# fail 0$", done.stdout, flags=re.MULTILINE), done.stdout[-2000:]


def test_npm_packages_are_pinned_and_locked_from_the_registry() -> None:
    package = json.loads((EXTENSION / "package.json").read_text())
    lock = json.loads((EXTENSION / "package-lock.json").read_text())
    for name, version in {**package["dependencies"], **package["devDependencies"]}.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), (name, version)
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
    for entry in lock["packages"].values():
        resolved = entry.get("resolved")
        assert resolved is None or resolved.startswith("https://registry.npmjs.org/"), resolved
    assert {"build", "package", "test"} <= set(package["scripts"])
