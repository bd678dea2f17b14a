"""A real S3-compatible HTTP server for tests: ``moto`` in server mode, in its own process."""

from __future__ import annotations

import subprocess
import sys
import uuid

import boto3

from tests.support.services import free_port, wait_for_port
from ticketcreator.storage import S3Storage

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class MotoServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, timeout=30)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def storage(self, *, part_size: int = 5 * 1024 * 1024) -> S3Storage:
        """A fresh bucket on the server and a backend writing to it."""
        client = boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION, **CREDENTIALS)
        bucket = f"tc-{uuid.uuid4().hex[:12]}"
        client.create_bucket(Bucket=bucket)
        return S3Storage(client, bucket, part_size=part_size)
