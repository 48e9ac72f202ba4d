"""The demo cloud's service processes (embedded mode).

    python -m openstack_smartos.aio.services {keystone|glance|nova} STATE_DIR

Each process serves its WSGI apps with cheroot (threads, pure Python) on the
demo's address and runs until SIGTERM. The nova process holds placement,
nova-api, the network stand-in, nova-conductor, nova-scheduler and one
nova-compute per emulated host, all on ``fake:/`` messaging. A process
prints ``READY`` on stdout once it serves; if starting fails it prints the
traceback and exits 1, so the supervisor notices.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import traceback

from openstack_smartos.aio import sqlite
from openstack_smartos.aio.settings import PORTS, DemoSettings


def serve_wsgi(settings: DemoSettings, name: str, app, port: int, threads: int = 8):
    from cheroot import wsgi
    server = wsgi.Server((settings.address, port), app, numthreads=threads,
                         server_name=name)
    server.prepare()        # binds now: a busy port fails here, not in a thread
    threading.Thread(target=server.serve, name=f"wsgi-{name}", daemon=True).start()
    return server


def serve_keystone(settings: DemoSettings):
    sys.argv = ["keystone-demo"]        # keystone's CONF() parses sys.argv[1:]
    from keystone.server.flask import core
    app = core.initialize_application(
        name="public", config_files=[str(settings.path("etc", "keystone", "keystone.conf"))])
    serve_wsgi(settings, "keystone", app, PORTS["keystone"])


def serve_glance(settings: DemoSettings):
    sys.argv = ["glance-demo"]
    os.environ["OS_GLANCE_CONFIG_DIR"] = str(settings.path("etc", "glance"))
    from glance.common import wsgi_app
    serve_wsgi(settings, "glance", wsgi_app.init_app(), PORTS["glance"])


QUOTA_UNLIMITED = {"quota": {name: -1 for name in (
    "port", "network", "subnet", "router", "floatingip", "security_group",
    "security_group_rule")}}


def network_standin(environ, start_response):
    """Just enough of the networking API for servers without networks.

    nova lists an instance's ports when it deletes it, whatever it was
    booted with, and checks the project's port quota when a server is
    created without a ``networks`` field (microversions before 2.37). Every
    collection here is empty and every quota unlimited. Neutron replaces
    this when the networking integration lands.
    """
    path = environ.get("PATH_INFO", "").rstrip("/")
    if environ["REQUEST_METHOD"] != "GET":
        body, status = {"NeutronError": {"message": "the demo has no networking service"}}, \
            "404 Not Found"
    elif path in ("", "/v2.0"):
        body, status = {"resources": []}, "200 OK"
    elif "/quotas/" in path:
        body, status = QUOTA_UNLIMITED, "200 OK"
    else:
        # /v2.0/security-groups answers {"security_groups": []}, as neutron does.
        collection = path.rsplit("/", 1)[-1].split(".")[0].replace("-", "_")
        body, status = {collection: []}, "200 OK"
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(data)))])
    return [data]


def serve_nova(settings: DemoSettings):
    os.environ["OS_NOVA_DISABLE_EVENTLET_PATCHING"] = "true"
    from nova import monkey_patch
    monkey_patch.patch(backend="threading")     # nova 34 runs on native threads
    sys.argv = ["nova-demo"]

    serve_wsgi(settings, "placement", _placement_app(settings), PORTS["placement"])
    serve_wsgi(settings, "network", network_standin, PORTS["network"], threads=2)

    api = _nova_api_app(settings, "api-paste.ini;nova.conf;nova-db.conf")

    from nova import context as nova_context
    from nova import service
    from nova.compute import rpcapi as compute_rpcapi
    from nova.conductor import rpcapi as conductor_rpcapi
    from nova.objects import host_mapping
    from nova.scheduler import rpcapi as scheduler_rpcapi
    import nova.conf
    from openstack_smartos.nova import conf as smartos_conf
    conf = nova.conf.CONF
    smartos_conf.register_opts(conf)    # before the overrides below

    services = [service.Service.create(binary="nova-conductor",
                                       topic=conductor_rpcapi.RPC_TOPIC),
                service.Service.create(binary="nova-scheduler",
                                       topic=scheduler_rpcapi.RPC_TOPIC)]
    for svc in services:
        svc.start()
    for index in range(1, settings.hosts + 1):
        name = settings.host_name(index)
        # host, state_path (the node identity file) and the host URI are
        # global options: set for this compute while it starts, as nova's
        # own functional tests do; the driver keeps its connection.
        compute_state = settings.path("nova", "computes", name)
        compute_state.mkdir(parents=True, exist_ok=True)
        conf.set_override("host", name)
        conf.set_override("state_path", str(compute_state))
        conf.set_override("host_uri", settings.host_uri(index), group="smartos")
        try:
            compute = service.Service.create(
                binary="nova-compute", host=name, topic=compute_rpcapi.RPC_TOPIC,
                topic_alt=compute_rpcapi.RPC_TOPIC_ALT)
            compute.start()
        finally:
            conf.clear_override("host")
            conf.clear_override("state_path")
            conf.clear_override("host_uri", group="smartos")
        services.append(compute)
    host_mapping.discover_hosts(nova_context.get_admin_context())
    serve_wsgi(settings, "nova-api", api, PORTS["nova"], threads=16)
    return services


def _nova_api_app(settings: DemoSettings, config_files: str):
    os.environ["OS_NOVA_CONFIG_DIR"] = str(settings.path("etc", "nova"))
    os.environ["OS_NOVA_CONFIG_FILES"] = config_files
    from nova.api.openstack import wsgi_app
    return wsgi_app.init_application("osapi_compute", "nova-api-os-compute")


def _placement_app(settings: DemoSettings):
    from oslo_config import cfg
    from placement import db_api as placement_db
    from placement import deploy as placement_deploy
    from placement import wsgi as placement_wsgi
    placement_conf = cfg.ConfigOpts()           # its own options, not nova's CONF
    placement_wsgi._parse_args(
        placement_conf, ["placement-demo"],
        default_config_files=[str(settings.path("etc", "placement", "placement.conf"))])
    placement_db.configure(placement_conf)
    return placement_deploy.loadapp(placement_conf)


# -- deployed mode: one process per service, as a real deployment runs them -------------------
def serve_placement(settings: DemoSettings):
    sys.argv = ["placement-demo"]
    serve_wsgi(settings, "placement", _placement_app(settings), PORTS["placement"])


def serve_nova_api(settings: DemoSettings):
    """nova-api and the network stand-in (nova 34 runs on native threads)."""
    os.environ["OS_NOVA_DISABLE_EVENTLET_PATCHING"] = "true"
    from nova import monkey_patch
    monkey_patch.patch(backend="threading")
    sys.argv = ["nova-api-demo"]
    serve_wsgi(settings, "network", network_standin, PORTS["network"], threads=2)
    serve_wsgi(settings, "nova-api",
               _nova_api_app(settings, "api-paste.ini;nova.conf;nova-db.conf;nova-api.conf"),
               PORTS["nova"], threads=16)


SERVICES = {"keystone": serve_keystone, "glance": serve_glance, "nova": serve_nova,
            "placement": serve_placement, "nova-api": serve_nova_api}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    name, state_dir = argv
    settings = DemoSettings.load(state_dir)
    if settings.database_url is None:
        sqlite.tune()
    try:
        SERVICES[name](settings)
    except BaseException:
        traceback.print_exc()
        sys.stdout.flush()
        os._exit(1)             # service threads are not daemons
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("READY", flush=True)
    stop.wait()
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
