"""A real Redis Cluster for tests: three masters on loopback, no replicas.

``.ci/run`` starts one and names its nodes in ``TEST_REDIS_CLUSTER_NODES``
(``host:port,host:port,…``); otherwise the session fixture :func:`redis_cluster` starts its own
with the machine's ``redis-server`` and ``redis-cli`` (``--cluster-enabled yes`` three times,
then ``redis-cli --cluster create``) and removes it at the end. Tests that use it carry
:data:`tests.support.requirements.needs_redis_cluster`: without ``redis-server`` they skip
locally and fail where ``CI`` is set.

A test variable, not a setting: the gateway reads a cluster from ``REDIS_URL``
(``redis+cluster://…``), and the tests hand that URL to the processes they start.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.cluster import ClusterNode

ENVIRONMENT_VARIABLE = "TEST_REDIS_CLUSTER_NODES"
MASTERS = 3


def redis_cluster_missing() -> str | None:
    """Why no cluster can be had, or None (one is named, or the tools to start one are here)."""
    if os.environ.get(ENVIRONMENT_VARIABLE):
        return None
    missing = [tool for tool in ("redis-server", "redis-cli") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not found and {ENVIRONMENT_VARIABLE} is not set"
    return None


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_cluster_ports(count: int) -> list[int]:
    """Ports whose cluster bus port (port + 10000) is free too."""
    ports: list[int] = []
    while len(ports) < count:
        port = random.randint(20000, 29999)
        if port not in ports and _bindable(port) and _bindable(port + 10000):
            ports.append(port)
    return ports


class RedisCluster:
    """A cluster the tests use: its nodes, the gateway's ``REDIS_URL`` for it, and clients."""

    def __init__(self, nodes: list[tuple[str, int]]) -> None:
        self.nodes = nodes

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"{host}:{port}" for host, port in self.nodes)

    def client(self) -> redis.RedisCluster:
        return redis.RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in self.nodes], socket_timeout=5)

    def masters(self) -> dict[tuple[str, int], redis.Redis]:
        """A plain client of each master by address (SCAN, CLUSTER commands node by node)."""
        client = self.client()
        try:
            return {(n.host, n.port): redis.Redis(host=n.host, port=n.port, socket_timeout=5)
                    for n in client.get_primaries()}  # fmt: skip
        finally:
            client.close()

    def keys_by_master(self, match: str) -> dict[tuple[str, int], set[str]]:
        """The keys matching ``match`` that each master holds."""
        return {address: {k.decode() for k in master.scan_iter(match=match, count=1000)}
                for address, master in self.masters().items()}  # fmt: skip


class LoopbackRedisCluster(RedisCluster):
    """Started here, in a temporary directory removed with it."""

    def __init__(self) -> None:
        super().__init__([("127.0.0.1", port) for port in _free_cluster_ports(MASTERS)])
        self.directory = Path(tempfile.mkdtemp(prefix="aid-redis-cluster-"))
        self.processes: list[subprocess.Popen] = []

    def start(self) -> LoopbackRedisCluster:
        for _, port in self.nodes:
            node_dir = self.directory / str(port)
            node_dir.mkdir()
            self.processes.append(subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                 "--cluster-config-file", "nodes.conf", "--dir", str(node_dir), "--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL,
            ))  # fmt: skip
        for _, port in self.nodes:
            _wait_for_ping(port)
        subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"{h}:{p}" for h, p in self.nodes), "--cluster-replicas", "0",
             "--cluster-yes"],
            check=True, stdout=subprocess.DEVNULL, timeout=60,
        )  # fmt: skip
        cluster_wait_ok(self.nodes)
        return self

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(5)
        shutil.rmtree(self.directory, ignore_errors=True)


def _wait_for_ping(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(redis.RedisError):
            if redis.Redis(port=port, socket_connect_timeout=0.2).ping():
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis-server on port {port} did not start")
        time.sleep(0.05)


def cluster_wait_ok(nodes: list[tuple[str, int]], timeout: float = 30.0) -> None:
    """Until every node reports ``cluster_state:ok`` with all slots assigned."""
    deadline = time.monotonic() + timeout
    while True:
        infos = []
        with contextlib.suppress(redis.RedisError):
            infos = [redis.Redis(host=h, port=p, socket_timeout=2).cluster("info") for h, p in nodes]
        if infos and all(i.get("cluster_state") == "ok" and int(i.get("cluster_slots_ok", 0)) == 16384 for i in infos):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the Redis Cluster on {nodes} did not become ready")
        time.sleep(0.1)


def nodes_from_environment() -> list[tuple[str, int]] | None:
    raw = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if not raw:
        return None
    nodes = []
    for entry in raw.split(","):
        host, _, port = entry.strip().rpartition(":")
        nodes.append((host or "127.0.0.1", int(port)))
    return nodes


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """The run's Redis Cluster: the one CI names, or three masters started on loopback."""
    nodes = nodes_from_environment()
    if nodes is not None:
        try:
            cluster_wait_ok(nodes, timeout=10)
        except RuntimeError as exc:
            pytest.fail(f"{ENVIRONMENT_VARIABLE} names a Redis Cluster that is not ready: {exc}")
        yield RedisCluster(nodes)
        return
    cluster = LoopbackRedisCluster()
    try:
        cluster.start()
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        cluster.stop()
        pytest.fail(f"could not start a Redis Cluster on loopback: {exc}")
    yield cluster
    cluster.stop()
