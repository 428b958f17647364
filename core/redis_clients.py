"""Redis connections from ``REDIS_URL``: one node (``redis://``, ``rediss://``, ``unix://``) or a
Redis Cluster (``redis+cluster://`` or ``rediss+cluster://`` naming one or more seed nodes).

Why one setting rather than a second one beside it: every part of the gateway that shares
state across processes asks only "is there a Redis, and where"; a cluster is another answer to
"where". The seed nodes only bootstrap: the clients read the cluster's slot map from whichever
answers and follow it (and its changes) from there.

Every key is written so that the keys one command or script touches share a hash slot: a
tenant's keys carry ``{tenant_id}`` as hash tag, platform-wide keys their own tag
(docs/deployment.md → Redis Cluster). A cluster has only database 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode as AsyncClusterNode
from redis.cluster import ClusterNode

CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")


class RedisUrlError(ValueError):
    """``REDIS_URL`` names a cluster in a form the gateway cannot use."""


@dataclass(frozen=True, slots=True)
class ClusterUrl:
    nodes: tuple[tuple[str, int], ...]
    username: str | None
    password: str | None
    tls: bool

    def node_url(self, host: str, port: int) -> str:
        """A single-node URL of one cluster member, with this URL's credentials and TLS."""
        auth = ""
        if self.password is not None:
            user = quote(self.username or "", safe="")
            auth = f"{user}:{quote(self.password, safe='')}@"
        return f"{'rediss' if self.tls else 'redis'}://{auth}{host}:{port}/0"


def is_cluster_url(url: str) -> bool:
    return url.split("://", 1)[0].lower() in CLUSTER_SCHEMES


def cluster_url_parse(url: str) -> ClusterUrl:
    """``redis+cluster://[user:password@]host:port[,host:port...][/0]``."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in CLUSTER_SCHEMES:
        raise RedisUrlError(f"not a Redis Cluster URL (expected {' or '.join(CLUSTER_SCHEMES)}://)")
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    username = password = None
    if userinfo:
        user, has_password, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if has_password else unquote(user)
        if not has_password:
            username = None
    if parts.path.strip("/") not in ("", "0"):
        raise RedisUrlError("a Redis Cluster has only database 0: leave the path out of the URL")
    nodes = []
    for entry in filter(None, (item.strip() for item in hostlist.split(","))):
        host, _, port = entry.rpartition(":")
        if not host or not port.isdigit():
            raise RedisUrlError("each Redis Cluster node must be given as host:port")
        nodes.append((host.strip("[]"), int(port)))
    if not nodes:
        raise RedisUrlError("a Redis Cluster URL names at least one node (host:port)")
    return ClusterUrl(tuple(nodes), username, password, parts.scheme.lower().startswith("rediss"))


def _cluster_options(cluster: ClusterUrl) -> dict[str, Any]:
    return {"username": cluster.username, "password": cluster.password, "ssl": cluster.tls}


def sync_client(url: str, **options: Any) -> redis.Redis | redis.RedisCluster:
    """A blocking client for ``url``, a node or a cluster."""
    if not is_cluster_url(url):
        return redis.Redis.from_url(url, **options)
    cluster = cluster_url_parse(url)
    nodes = [ClusterNode(host, port) for host, port in cluster.nodes]
    return redis.RedisCluster(startup_nodes=nodes, **_cluster_options(cluster), **options)


def async_cluster_client(url: str, **options: Any) -> aioredis.RedisCluster:
    """An asyncio client of the cluster ``url`` names (``redis.asyncio.RedisCluster``)."""
    cluster = cluster_url_parse(url)
    nodes = [AsyncClusterNode(host, port) for host, port in cluster.nodes]
    return aioredis.RedisCluster(startup_nodes=nodes, **_cluster_options(cluster), **options)
