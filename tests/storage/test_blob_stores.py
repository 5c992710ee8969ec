"""The blob stores themselves: files (private, content-addressed, tamper-evident) and S3 (a real
S3 server on loopback, moto's), and the storage settings."""

from __future__ import annotations

import contextlib
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.converter import StorageDriverClaim, StorageDriverRetrieveContext
from temporalio.converter import StorageDriverStoreContext as StoreContext

from cli.dev import DevOptions
from interpreter.registration import new_worker
from storage import (
    BlobNotFound,
    FileDriver,
    StorageConfigError,
    StorageSettings,
    close_stores,
    data_converter,
    parse_size,
)
from tests.support.runs import result, start
from tests.support.standins import STANDIN_ACTIVITIES

BIG = 600_000


def payload(data: bytes) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=data)


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize("mask", [0o000, 0o022, 0o077])
async def test_blobs_are_0600_files_in_0700_directories_whatever_the_umask(
    tmp_path: Path, mask: int
) -> None:
    driver = FileDriver(tmp_path / "state" / "blobs")
    with umask(mask):
        [claim] = await driver.store(StoreContext(), [payload(b'"' + b"x" * BIG + b'"')])
    key = claim.claim_data["key"]
    path = driver.path_of(key)
    assert path.relative_to(driver.root).parts[:2] == ("sha256", key[7:9])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for directory in (tmp_path / "state", driver.root, path.parent.parent, path.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


async def test_identical_payloads_share_a_blob_and_read_back_equal(tmp_path: Path) -> None:
    driver = FileDriver(tmp_path / "blobs")
    one, two = payload(b'"one"'), payload(b'"two"')
    claims = await driver.store(StoreContext(), [one, two, one])
    assert claims[0] == claims[2] != claims[1]
    assert len([p for p in driver.root.rglob("*") if p.is_file()]) == 2
    back = await driver.retrieve(StorageDriverRetrieveContext(), claims)
    assert back == [one, two, one]


async def test_a_forged_or_damaged_reference_is_refused(tmp_path: Path) -> None:
    driver = FileDriver(tmp_path / "blobs")
    [claim] = await driver.store(StoreContext(), [payload(b'"x"')])
    for key in ("../../etc/passwd", "sha256/" + "0" * 63, "sha256/../../x"):
        with pytest.raises(BlobNotFound, match="not a key this store writes"):
            await driver.retrieve(
                StorageDriverRetrieveContext(), [StorageDriverClaim({"key": key})]
            )
    missing = "sha256/" + "0" * 64
    with pytest.raises(BlobNotFound, match=f"blob '{missing}': no such blob in"):
        await driver.retrieve(
            StorageDriverRetrieveContext(), [StorageDriverClaim({"key": missing})]
        )
    path = driver.path_of(claim.claim_data["key"])
    path.write_bytes(path.read_bytes() + b" ")
    with pytest.raises(BlobNotFound, match="does not hold the content its name says"):
        await driver.retrieve(StorageDriverRetrieveContext(), [claim])


def test_settings_come_from_the_environment(tmp_path: Path) -> None:
    assert StorageSettings.from_env({}) == StorageSettings(
        blob_dir=Path(".kworkflow/blobs").absolute(), s3_region="us-east-1"
    )
    settings = StorageSettings.from_env(
        {
            "KWORKFLOW_BLOB_DIR": str(tmp_path),
            "KWORKFLOW_PAYLOAD_THRESHOLD": "128 KiB",
            "KWORKFLOW_PAYLOAD_MAX": "2MiB",
            "KWORKFLOW_BLOB_S3_BUCKET": "payloads",
            "KWORKFLOW_BLOB_S3_ENDPOINT": "http://minio:9000",
            "AWS_REGION": "eu-west-1",
        }
    )
    assert settings == StorageSettings(
        blob_dir=tmp_path,
        s3_bucket="payloads",
        s3_endpoint="http://minio:9000",
        s3_region="eu-west-1",
        threshold=128 * 1024,
        max_bytes=2 * 1024 * 1024,
    )
    assert [parse_size(t) for t in ("262144", "256KiB", "64 MiB", "2MB", "1gib")] == [
        262144,
        262144,
        64 * 1024 * 1024,
        2_000_000,
        1024**3,
    ]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"KWORKFLOW_PAYLOAD_MAX": "lots"},
            "KWORKFLOW_PAYLOAD_MAX: 'lots' is not a size (bytes, or a number with KiB, MiB, GiB)",
        ),
        (
            {"KWORKFLOW_PAYLOAD_THRESHOLD": "-1"},
            "KWORKFLOW_PAYLOAD_THRESHOLD: '-1' is not a size (bytes, or a number with KiB, "
            "MiB, GiB)",
        ),
        (
            {"KWORKFLOW_PAYLOAD_MAX": "100KiB"},
            "KWORKFLOW_PAYLOAD_MAX (102400 bytes) is below KWORKFLOW_PAYLOAD_THRESHOLD "
            "(262144 bytes)",
        ),
    ],
)
def test_a_wrong_setting_names_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(StorageConfigError) as caught:
        StorageSettings.from_env(env)
    assert str(caught.value) == message


def test_kworkflow_dev_keeps_blobs_beside_its_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = DevOptions(
        ip="127.0.0.1",
        port=7233,
        ui_port=8233,
        db_filename=tmp_path / "state" / "temporal.db",
        namespace="default",
        task_queue="kworkflow",
        startup_timeout=60,
    )
    monkeypatch.delenv("KWORKFLOW_BLOB_DIR")
    assert options.blob_dir == str(tmp_path / "state" / "blobs")
    monkeypatch.setenv("KWORKFLOW_BLOB_DIR", "/srv/blobs")
    assert options.blob_dir == "/srv/blobs"


# ---- S3 ----------------------------------------------------------------------------------


@pytest.fixture
def s3_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's S3 server on a free loopback port, with a bucket ``payloads``; its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for name, value in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "secret")):
        monkeypatch.setenv(name, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        bucket_client(url).create_bucket(Bucket="payloads")
        yield url
    finally:
        server.stop()


def bucket_client(url: str) -> Any:
    """A plain (synchronous) S3 client of the server at ``url``."""
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1")


TO_S3 = f"""\
kworkflow: 1
name: to-s3
steps:
  - {{id: a, kind: code, language: python, source: 'output = "a" * {BIG}'}}
  - {{id: b, kind: aggregate, expr: 'size(steps.a.output)'}}
output: ${{ [steps.a.output, steps.b.output] }}
"""


async def test_a_run_keeps_its_large_payloads_in_s3(
    client: Client, task_queue: str, s3_server: str, tmp_path: Path
) -> None:
    settings = StorageSettings(
        blob_dir=tmp_path / "unused", s3_bucket="payloads", s3_endpoint=s3_server
    )
    on_s3 = await Client.connect(
        client.service_client.config.target_host,
        namespace=client.namespace,
        data_converter=data_converter(settings),
    )
    async with new_worker(on_s3, task_queue, STANDIN_ACTIVITIES):
        handle = await start(on_s3, task_queue, TO_S3)
        assert await result(handle) == ["a" * BIG, BIG]
    listing = bucket_client(s3_server).list_objects_v2(Bucket="payloads")
    keys = [entry["Key"] for entry in listing.get("Contents", [])]
    prefix = f"v0/ns/default/wt/kworkflow/wi/{handle.id}/"
    assert len(keys) == 2 and all(key.startswith(prefix) for key in keys), keys  # output, result
    assert not (tmp_path / "unused").exists()
    # Another process's reader (a new converter, its own S3 client) reads the result back.
    reader = await Client.connect(
        client.service_client.config.target_host,
        namespace=client.namespace,
        data_converter=data_converter(settings),
    )
    assert await reader.get_workflow_handle(handle.id).result() == ["a" * BIG, BIG]
    await close_stores()
