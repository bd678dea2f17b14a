"""Resumable-upload benchmark: a large file through the tus API vs. straight to disk.

Starts the API in a real uvicorn process (own database, own storage directory), uploads a
file of ``--size`` bytes with tus (one ``POST``, then ``PATCH`` requests of ``--chunk``
bytes), and prints the throughput as a ratio to writing the same bytes to a file on the
same disk, and the API process's peak RSS growth during the upload (target < 50 MB).

    .venv/bin/python bench/uploads.py --size 1G
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BLOCK = 1024 * 1024
DEFAULT_DB = "postgresql+asyncpg://postgres@127.0.0.1:5432/tc_bench_uploads"


def parse_size(text: str) -> int:
    units = {"K": 1024, "M": 1024**2, "G": 1024**3}
    if text[-1].upper() in units:
        return int(float(text[:-1]) * units[text[-1].upper()])
    return int(text)


def proc_status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


# An EBML header with DocType "webm": the upload is identified as a recording, as it would
# be for a real MediaRecorder file; the rest is random (incompressible) bytes.
WEBM_HEADER = bytes.fromhex(
    "1a45dfa39f4286810142f7810142f2810442f381084282847765626d4287810442858102"
)


def make_source(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as out:
        left = size
        while left:
            block = os.urandom(min(BLOCK * 8, left))
            if left == size:
                block = WEBM_HEADER + block[len(WEBM_HEADER) :]
            digest.update(block)
            out.write(block)
            left -= len(block)
    return digest.hexdigest()


def disk_baseline(source: Path, dest: Path) -> float:
    """Seconds to copy the bytes to a new file through a 1 MiB buffer, fsync included."""
    started = time.perf_counter()
    with source.open("rb") as src, dest.open("wb") as out:
        while block := src.read(BLOCK):
            out.write(block)
        out.flush()
        os.fsync(out.fileno())
    elapsed = time.perf_counter() - started
    dest.unlink()
    return elapsed


async def prepare(url: str) -> str:
    """A fresh, migrated database with one organization and member; returns a token."""
    from bench.common import fresh_database

    from ticketcreator.accounts.permissions import Role

    token, _org = await fresh_database(url, Role.REPORTER)
    return token


def start_api(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "ticketcreator.main:create_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("the API did not start:\n" + log.read_text()[-3000:])


def file_chunks(path: Path, start: int, length: int) -> Iterator[bytes]:
    with path.open("rb") as src:
        src.seek(start)
        left = length
        while left and (block := src.read(min(BLOCK, left))):
            left -= len(block)
            yield block


def upload(base: str, token: str, source: Path, size: int, chunk: int) -> float:
    auth = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    with httpx.Client(base_url=base, timeout=600) as http:
        started = time.perf_counter()
        created = http.post(
            "/v1/uploads",
            headers={
                **auth,
                "Upload-Length": str(size),
                "Upload-Metadata": "filename YmVuY2gud2VibQ==,filetype dmlkZW8vd2VibQ==",
            },
        )
        created.raise_for_status()
        location = created.headers["Location"]
        offset = 0
        while offset < size:
            length = min(chunk, size - offset)
            response = http.patch(
                location,
                content=file_chunks(source, offset, length),
                headers={
                    **auth,
                    "Upload-Offset": str(offset),
                    "Content-Type": "application/offset+octet-stream",
                    "Content-Length": str(length),
                },
            )
            response.raise_for_status()
            offset = int(response.headers["Upload-Offset"])
        elapsed = time.perf_counter() - started
        head = http.head(location, headers=auth)
        assert int(head.headers["Upload-Offset"]) == size
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=parse_size("1G"), help="e.g. 1G, 200M")
    parser.add_argument("--chunk", type=parse_size, default=parse_size("1G"), help="PATCH size")
    parser.add_argument(
        "--database-url", default=os.environ.get("TC_BENCH_DATABASE_URL", DEFAULT_DB)
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tc-bench-uploads-", dir=ROOT / "var"))
    os.environ["TC_DATABASE__URL"] = args.database_url
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "TC_STORAGE__LOCAL_ROOT": str(work / "storage"),
        "TC_RATE_LIMITS__ENABLED": "false",
        "TC_LOGGING__LEVEL": "WARNING",
    }
    try:
        token = asyncio.run(prepare(args.database_url))
        source = work / "source.bin"
        print(f"writing a {args.size / 1024**2:.0f} MiB source file ...", flush=True)
        make_source(source, args.size)
        disk_s = disk_baseline(source, work / "copy.bin")

        from tests.support.services import free_port

        port = free_port()
        api = start_api(port, env, work / "api.log")
        try:
            base = f"http://127.0.0.1:{port}"
            # Warm up (imports, pools) with a small upload, then measure from a reset peak.
            upload(base, token, source, 1024 * 1024, 1024 * 1024)
            rss_before = proc_status(api.pid, "VmRSS")
            Path(f"/proc/{api.pid}/clear_refs").write_text("5")
            peak = [rss_before]
            done = threading.Event()

            def sample() -> None:
                while not done.wait(0.05):
                    peak[0] = max(peak[0], proc_status(api.pid, "VmRSS"))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            api_s = upload(base, token, source, args.size, args.chunk)
            done.set()
            sampler.join()
            hwm = proc_status(api.pid, "VmHWM")
        finally:
            api.terminate()
            api.wait(timeout=30)

        mib = args.size / 1024**2
        growth = max(peak[0], hwm) - rss_before
        print(f"file size                  {mib:10.0f} MiB")
        print(f"straight to disk           {disk_s:10.2f} s  {mib / disk_s:8.1f} MiB/s")
        print(f"through the tus API        {api_s:10.2f} s  {mib / api_s:8.1f} MiB/s")
        print(f"throughput ratio API/disk  {disk_s / api_s:10.2f}")
        print(f"API RSS before upload      {rss_before / 1024**2:10.1f} MiB")
        print(f"API peak RSS growth        {growth / 1024**2:10.1f} MiB  (target < 50 MiB)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
