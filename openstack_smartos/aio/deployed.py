"""Deployed mode: the demo on a database server and a message broker.

``openstack-smartos demo --database-url mysql+pymysql://... --transport-url
rabbit://...`` runs every service in a process of its own (keystone, glance,
placement, nova-api, nova-conductor, nova-scheduler and one nova-compute per
host, the last three from nova's own console scripts), as a real OpenStack
does. Computes get no database options: they reach it through the conductor.
"""

from __future__ import annotations

import socket
import time
import urllib.parse

from openstack_smartos.aio import bootstrap
from openstack_smartos.aio.settings import DemoSettings

CONSUMER_TIMEOUT = 120
MAPPING_TIMEOUT = 180


class DeployedError(Exception):
    pass


def _endpoint(url: str, default_port: int) -> tuple[str, int]:
    parsed = urllib.parse.urlsplit(url)
    return parsed.hostname or "127.0.0.1", parsed.port or default_port


def describe(settings: DemoSettings) -> str:
    db_host, db_port = _endpoint(settings.database_url, 3306)
    mq_host, mq_port = _endpoint(settings.transport_url, 5672)
    return f"database {db_host}:{db_port}, messaging {mq_host}:{mq_port}"


def check_backends(settings: DemoSettings):
    """Both must be given and answer; a clear error names the one that does not."""
    if not settings.database_url or not settings.transport_url:
        raise DeployedError("--database-url and --transport-url go together")
    if not settings.transport_url.startswith("rabbit://"):
        raise DeployedError("--transport-url must be a rabbit:// URL")
    if not settings.database_url.startswith("mysql+pymysql://"):
        raise DeployedError("--database-url must be a mysql+pymysql:// URL")
    for what, url, port in (("database server", settings.database_url, 3306),
                            ("message broker", settings.transport_url, 5672)):
        host, port = _endpoint(url, port)
        try:
            socket.create_connection((host, port), timeout=3).close()
        except OSError as exc:
            raise DeployedError(f"the {what} at {host}:{port} does not answer ({exc})") \
                from exc


def _amqp_connection(settings: DemoSettings):
    import amqp
    parsed = urllib.parse.urlsplit(settings.transport_url)
    vhost = urllib.parse.unquote(parsed.path[1:]) if len(parsed.path) > 1 else "/"
    return amqp.Connection(f"{parsed.hostname}:{parsed.port or 5672}",
                           userid=urllib.parse.unquote(parsed.username or "guest"),
                           password=urllib.parse.unquote(parsed.password or "guest"),
                           virtual_host=vhost)


def wait_for_consumer(settings: DemoSettings, queue: str, proc, timeout=CONSUMER_TIMEOUT):
    """Until an RPC server consumes ``queue`` (a passive declare creates nothing)."""
    import amqp
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DeployedError(f"the process serving {queue} exited ({proc.returncode}); "
                                f"see {settings.path('log')}")
        connection = _amqp_connection(settings)
        try:
            connection.connect()
            _name, _messages, consumers = connection.channel().queue_declare(
                queue, passive=True)
            if consumers:
                return
        except amqp.exceptions.NotFound:
            pass
        finally:
            try:
                connection.close()
            except Exception:
                pass
        time.sleep(0.5)
    raise DeployedError(f"nothing consumes the {queue} queue after {timeout} s")


def map_computes(settings: DemoSettings, files: dict, hosts: list[str], children: dict,
                 timeout=MAPPING_TIMEOUT):
    """nova-manage cell_v2 discover_hosts until every compute host is mapped."""
    conf = [files["nova"], files["nova-db"]]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in children.items():
            if proc.poll() is not None:
                raise DeployedError(f"{name} exited ({proc.returncode}); see "
                                    f"{settings.path('log', name + '.log')}")
        bootstrap.run_command(settings, "nova-manage", conf, "cell_v2", "discover_hosts")
        listed = bootstrap.run_command(settings, "nova-manage", conf, "cell_v2", "list_hosts")
        if all(f" {host} " in listed for host in hosts):
            return
        time.sleep(2)
    raise DeployedError(f"compute hosts {hosts} were not all mapped after {timeout} s")
