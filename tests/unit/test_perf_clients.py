"""The boto3 client cache of iacdrift.aws.session: one client per identity, service
and target, never one identity's client for another, bounded, and one shared model
loader whose search path does not grow (no network: building a client calls nothing)."""

from __future__ import annotations

import threading

import pytest

from iacdrift.aws import session
from iacdrift.aws.session import AwsCredentials, Target, client

TARGET = Target("us-east-1", "http://127.0.0.1:9")


def creds(n: int, token: str | None = None) -> AwsCredentials:
    return AwsCredentials(f"AKIA{n:04d}", f"secret-{n}", token)


def test_same_identity_service_and_target_share_one_client() -> None:
    assert client("s3", creds(1), TARGET) is client("s3", creds(1), TARGET)


@pytest.mark.parametrize(
    ("other_creds", "service", "target"),
    [
        (creds(2), "s3", TARGET),  # another identity
        (AwsCredentials("AKIA0001", "another-secret"), "s3", TARGET),
        (creds(1, token="t"), "s3", TARGET),  # another session of the role
        (creds(1), "dynamodb", TARGET),
        (creds(1), "s3", Target("eu-west-1", TARGET.endpoint_url)),
        (creds(1), "s3", Target("us-east-1", "http://127.0.0.1:10")),
    ],
)
def test_anything_else_gets_its_own_client(
    other_creds: AwsCredentials, service: str, target: Target
) -> None:
    mine = client("s3", creds(1), TARGET)
    other = client(service, other_creds, target)
    assert other is not mine
    frozen = other._request_signer._credentials.get_frozen_credentials()
    assert (frozen.access_key, frozen.secret_key, frozen.token) == (
        other_creds.access_key_id,
        other_creds.secret_access_key,
        other_creds.session_token,
    )
    assert other.meta.region_name == target.region
    assert other.meta.endpoint_url == target.endpoint_url


def test_the_cache_is_bounded() -> None:
    first = client("sts", creds(100), TARGET)
    for n in range(101, 101 + session.CLIENT_CACHE_SIZE):
        client("sts", creds(n), TARGET)
    assert len(session._clients) <= session.CLIENT_CACHE_SIZE
    assert client("sts", creds(100), TARGET) is not first


def test_the_shared_loader_search_path_does_not_grow() -> None:
    client("s3", creds(200), TARGET)
    assert session._loader is not None
    before = list(session._loader.search_paths)
    for n in range(201, 206):
        client("s3", creds(n), TARGET)
    assert session._loader.search_paths == before


def test_threads_asking_at_once_get_one_client() -> None:
    found: list[object] = []
    barrier = threading.Barrier(4)

    def ask() -> None:
        barrier.wait()
        found.append(client("iam", creds(300), TARGET))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 4
    assert all(c is found[0] for c in found)
