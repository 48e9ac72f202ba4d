"""First start of a demo: the databases, keystone's keys, and the catalog.

The schema commands are the services' own (``keystone-manage``,
``glance-manage``, ``nova-manage``), each run as a process: they read the
same configuration files the services do. The three chains are independent
and run side by side (most of their time is Python imports). They are safe
to run again: a restart re-runs only what a newer schema needs.
"""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from openstack_smartos.aio import configs
from openstack_smartos.aio.settings import (
    ADMIN_PASSWORD, DATABASES, DEMO_PASSWORD, REGION, SERVICE_PASSWORD, SERVICE_USERS, DemoSettings)


class BootstrapError(Exception):
    pass


def tool_path(name: str) -> Path:
    """A console script installed next to this interpreter (nova-manage, ...)."""
    return Path(sys.executable).with_name(name)


def run_command(settings: DemoSettings, tool: str, config, *args) -> str:
    """Run a service's own command with its configuration file(s)."""
    files = config if isinstance(config, (list, tuple)) else [config]
    argv = [str(tool_path(tool)), *[arg for f in files for arg in ("--config-file", str(f))], *args]
    with open(settings.path("log", "bootstrap.log"), "a") as log:
        log.write(f"$ {' '.join(argv)}\n")
        log.flush()
        result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=log, text=True,
                                stdin=subprocess.DEVNULL)
    if result.returncode:
        raise BootstrapError(f"{tool} {' '.join(args[:2])} failed (exit "
                             f"{result.returncode}); see {settings.path('log', 'bootstrap.log')}")
    return result.stdout


def _keystone(settings, files):
    conf = files["keystone"]
    me = getpass.getuser()
    run_command(settings, "keystone-manage", conf, "db_sync")
    owner = ["--keystone-user", me, "--keystone-group", me]
    if not any(settings.path("keystone", "fernet-keys").iterdir()):
        run_command(settings, "keystone-manage", conf, "fernet_setup", *owner)
    if not any(settings.path("keystone", "credential-keys").iterdir()):
        run_command(settings, "keystone-manage", conf, "credential_setup", *owner)
    for sub in ("fernet-keys", "credential-keys"):
        os.chmod(settings.path("keystone", sub), 0o700)
    run_command(settings, "keystone-manage", conf, *configs.bootstrap_args(settings))


def _glance(settings, files):
    run_command(settings, "glance-manage", files["glance"], "db_sync")


def _nova(settings, files):
    conf = [files["nova"], files["nova-db"]]
    run_command(settings, "nova-manage", conf, "api_db", "sync")
    run_command(settings, "nova-manage", conf, "cell_v2", "map_cell0", "--database_connection",
         settings.database("nova_cell0"))
    if " cell1 " not in run_command(settings, "nova-manage", conf, "cell_v2", "list_cells"):
        run_command(settings, "nova-manage", conf, "cell_v2", "create_cell", "--name", "cell1")
    run_command(settings, "nova-manage", conf, "db", "sync")


def _create_server_databases(settings: DemoSettings):
    """On a database server, the databases must exist before the schema commands."""
    import sqlalchemy
    engine = sqlalchemy.create_engine(settings.database_url.rstrip("/") + "/")
    try:
        with engine.connect() as connection:
            for name in DATABASES:
                connection.exec_driver_sql(
                    f"CREATE DATABASE IF NOT EXISTS `{settings.database_prefix}{name}` "
                    "CHARACTER SET utf8mb4")
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise BootstrapError(f"cannot create the databases on {settings.database_url}: "
                             f"{exc.__class__.__name__}: {exc.orig or exc}") from exc
    finally:
        engine.dispose()


def create_databases(settings: DemoSettings, files: dict, progress=print):
    started = time.monotonic()
    failures = []
    if settings.database_url is not None:
        _create_server_databases(settings)

    def chain(step):
        try:
            step(settings, files)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=chain, args=(step,), name=step.__name__)
               for step in (_keystone, _glance, _nova)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    progress(f"databases ready ({time.monotonic() - started:.1f} s)")


def admin_connection(settings: DemoSettings, project="admin", user="admin",
                     password=ADMIN_PASSWORD):
    import openstack
    return openstack.connect(
        auth_url=settings.auth_url, username=user, password=password,
        project_name=project, user_domain_name="Default", project_domain_name="Default",
        region_name=REGION, identity_api_version="3")


def register_catalog(settings: DemoSettings):
    """Projects, users, roles, services and endpoints; idempotent."""
    identity = admin_connection(settings).identity

    def ensure(find, create, name, **attrs):
        return find(name, ignore_missing=True) or create(name=name, **attrs)

    service_project = ensure(identity.find_project, identity.create_project, "service",
                             domain_id="default")
    demo_project = ensure(identity.find_project, identity.create_project, "demo",
                          domain_id="default")
    roles = {role.name: role for role in identity.roles()}
    for name in ("member", "reader", "admin", "service"):
        if name not in roles:
            roles[name] = identity.create_role(name=name)
    demo = ensure(identity.find_user, identity.create_user, "demo", domain_id="default",
                  password=DEMO_PASSWORD, default_project_id=demo_project.id)
    identity.assign_project_role_to_user(demo_project, demo, roles["member"])
    for name in SERVICE_USERS:
        user = ensure(identity.find_user, identity.create_user, name, domain_id="default",
                      password=SERVICE_PASSWORD)
        for role in ("admin", "service"):
            identity.assign_project_role_to_user(service_project, user, roles[role])
    catalog = [("glance", "image", settings.url("glance")),
               ("placement", "placement", settings.url("placement")),
               ("nova", "compute", settings.url("nova", "/v2.1")),
               ("neutron", "network", settings.url("network"))]
    for name, kind, url in catalog:
        service = identity.find_service(name, ignore_missing=True) or \
            identity.create_service(name=name, type=kind)
        present = {e.interface for e in identity.endpoints(service_id=service.id)}
        for interface in ("public", "internal", "admin"):
            if interface not in present:
                identity.create_endpoint(service_id=service.id, interface=interface,
                                         url=url, region_id=REGION)
