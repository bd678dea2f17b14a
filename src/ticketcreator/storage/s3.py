"""Objects in an S3-compatible bucket (AWS S3, MinIO, Ceph, ...) through boto3.

boto3 is synchronous, so every call runs in a worker thread. Uploads are buffered one part
at a time (``s3_multipart_part_size``): small objects are one ``PutObject``, larger ones a
multipart upload that is aborted if the stream fails, so a partial object never appears.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from ticketcreator.core.config import secret_value
from ticketcreator.core.config_sections import StorageSection
from ticketcreator.storage.base import ByteStream, ObjectNotFound, StoredObject, check_key
from ticketcreator.storage.content import content_disposition

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef, ObjectIdentifierTypeDef

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_READ_SIZE = 1024 * 1024


class S3Storage:
    def __init__(self, client: S3Client, bucket: str, *, part_size: int) -> None:
        self.client = client
        self.bucket = bucket
        self.part_size = part_size

    @classmethod
    def from_settings(cls, cfg: StorageSection) -> S3Storage:
        client = boto3.client(
            "s3",
            endpoint_url=cfg.s3_endpoint_url,
            region_name=cfg.s3_region,
            aws_access_key_id=secret_value(cfg.s3_access_key_id),
            aws_secret_access_key=secret_value(cfg.s3_secret_access_key),
            config=Config(signature_version="s3v4", retries={"mode": "standard"}),
        )
        return cls(client, cfg.s3_bucket, part_size=cfg.s3_multipart_part_size)

    async def put(self, key: str, chunks: ByteStream, *, content_type: str) -> StoredObject:
        check_key(key)
        buffer = bytearray()
        upload_id: str | None = None
        parts: list[CompletedPartTypeDef] = []
        size = 0
        try:
            async for chunk in chunks:
                buffer += chunk
                size += len(chunk)
                while len(buffer) >= self.part_size:
                    if upload_id is None:
                        upload_id = await self._start_multipart(key, content_type)
                    part = bytes(buffer[: self.part_size])
                    del buffer[: self.part_size]
                    parts.append(await self._upload_part(key, upload_id, len(parts) + 1, part))
            if upload_id is None:
                await asyncio.to_thread(
                    self.client.put_object,
                    Bucket=self.bucket,
                    Key=key,
                    Body=bytes(buffer),
                    ContentType=content_type,
                )
                return StoredObject(key=key, size=size)
            if buffer:
                parts.append(await self._upload_part(key, upload_id, len(parts) + 1, bytes(buffer)))
            await asyncio.to_thread(
                self.client.complete_multipart_upload,
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            if upload_id is not None:
                await asyncio.to_thread(
                    self.client.abort_multipart_upload,
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                )
            raise
        return StoredObject(key=key, size=size)

    async def _start_multipart(self, key: str, content_type: str) -> str:
        response = await asyncio.to_thread(
            self.client.create_multipart_upload,
            Bucket=self.bucket,
            Key=key,
            ContentType=content_type,
        )
        return response["UploadId"]

    async def _upload_part(
        self, key: str, upload_id: str, number: int, data: bytes
    ) -> CompletedPartTypeDef:
        response = await asyncio.to_thread(
            self.client.upload_part,
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=data,
        )
        return {"ETag": response["ETag"], "PartNumber": number}

    async def open_range(self, key: str, start: int = 0, end: int | None = None) -> ByteStream:
        check_key(key)
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if start or end is not None:
            request["Range"] = f"bytes={start}-{'' if end is None else end}"
        try:
            response = await asyncio.to_thread(self.client.get_object, **request)
        except ClientError as exc:
            raise _translate(exc, key) from None
        return self._read(response["Body"])

    async def _read(self, body: Any) -> AsyncIterator[bytes]:
        try:
            while data := await asyncio.to_thread(body.read, _READ_SIZE):
                yield data
        finally:
            body.close()

    async def size(self, key: str) -> int:
        check_key(key)
        try:
            response = await asyncio.to_thread(self.client.head_object, Bucket=self.bucket, Key=key)
        except ClientError as exc:
            raise _translate(exc, key) from None
        return response["ContentLength"]

    async def delete(self, key: str) -> None:
        check_key(key)
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=key)

    async def delete_prefix(self, prefix: str) -> int:
        check_key(prefix)

        def remove() -> int:
            count = 0
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix + "/"):
                keys: list[ObjectIdentifierTypeDef] = [
                    {"Key": item["Key"]} for item in page.get("Contents", [])
                ]
                if keys:
                    self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})
                    count += len(keys)
            return count

        return await asyncio.to_thread(remove)

    async def concat(self, key: str, sources: Sequence[str], *, content_type: str) -> StoredObject:
        check_key(key)
        if len(sources) == 1:
            size = await self.size(sources[0])
            if size <= 5 * 1024**3:
                await asyncio.to_thread(
                    self.client.copy_object,
                    Bucket=self.bucket,
                    Key=key,
                    CopySource={"Bucket": self.bucket, "Key": check_key(sources[0])},
                    ContentType=content_type,
                    MetadataDirective="REPLACE",
                )
                return StoredObject(key=key, size=size)
        return await self.put(key, self._chain(sources), content_type=content_type)

    async def _chain(self, sources: Sequence[str]) -> AsyncIterator[bytes]:
        for source in sources:
            async for chunk in await self.open_range(source):
                yield chunk

    async def presign(
        self, key: str, *, expires_s: int, filename: str, content_type: str, inline: bool
    ) -> str | None:
        check_key(key)
        return await asyncio.to_thread(
            self.client.generate_presigned_url,
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentType": content_type,
                "ResponseContentDisposition": content_disposition(filename, inline=inline),
            },
            ExpiresIn=expires_s,
        )


def _translate(exc: ClientError, key: str) -> Exception:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    if code in _NOT_FOUND:
        return ObjectNotFound(key)
    return exc
