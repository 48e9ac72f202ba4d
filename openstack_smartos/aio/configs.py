"""The services' configuration files, as section dicts rendered to ini (pure).

Each function returns ``{section: {option: value}}`` for one service; values
are what the service needs beyond its defaults, with the reason where it is
not obvious. ``render`` turns a dict into ini text.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from openstack_smartos.aio.settings import (
    ADMIN_PASSWORD, REGION, SERVICE_PASSWORD, DemoSettings)


def render(sections: dict) -> str:
    lines = []
    for section, options in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {value}" for key, value in options.items()]
        lines.append("")
    return "\n".join(lines)


def _service_auth(settings: DemoSettings, user: str) -> dict:
    """keystoneauth password options for calls made as a service user."""
    return {"auth_type": "password", "auth_url": settings.auth_url,
            "project_domain_name": "Default", "user_domain_name": "Default",
            "project_name": "service", "username": user, "password": SERVICE_PASSWORD,
            "region_name": REGION}


def _authtoken(settings: DemoSettings, user: str) -> dict:
    return {"www_authenticate_uri": settings.auth_url, **_service_auth(settings, user)}


def _log(settings: DemoSettings, name: str) -> dict:
    return {"log_file": str(settings.path("log", f"{name}.log"))}


def keystone(settings: DemoSettings) -> dict:
    keys = settings.path("keystone")
    return {
        "DEFAULT": _log(settings, "keystone"),
        "database": {"connection": settings.database("keystone")},
        "token": {"provider": "fernet"},
        "fernet_tokens": {"key_repository": str(keys / "fernet-keys")},
        "fernet_receipts": {"key_repository": str(keys / "fernet-keys")},
        "credential": {"key_repository": str(keys / "credential-keys")},
        # bcrypt's default cost (12) makes every token request take ~0.5 s
        # on a small machine: a demo's passwords are not secrets.
        "identity": {"password_hash_rounds": 4},
        # Token validation and role lookups on every API call, cached in process.
        "cache": {"enabled": "true", "backend": "dogpile.cache.memory"},
    }


def glance(settings: DemoSettings) -> dict:
    store = settings.path("glance")
    return {
        "DEFAULT": {**_log(settings, "glance"), "enabled_backends": "fs:file"},
        "database": {"connection": settings.database("glance")},
        "glance_store": {"default_backend": "fs"},
        "fs": {"filesystem_store_datadir": str(store / "images")},
        "os_glance_staging_store": {"filesystem_store_datadir": str(store / "staging")},
        "os_glance_tasks_store": {"filesystem_store_datadir": str(store / "tasks")},
        "paste_deploy": {"flavor": "keystone"},
        "oslo_concurrency": {"lock_path": str(store / "lock")},
        "keystone_authtoken": _authtoken(settings, "glance"),
    }


def placement(settings: DemoSettings) -> dict:
    return {
        # Placement creates or upgrades its tables when it loads.
        "placement_database": {"connection": settings.database("placement"),
                               "sync_on_startup": "true"},
        "api": {"auth_strategy": "keystone"},
        "keystone_authtoken": _authtoken(settings, "placement"),
    }


def nova(settings: DemoSettings) -> dict:
    """nova.conf, shared by every nova service (no database: computes use the
    conductor). ``nova_db`` adds the databases for the other services."""
    state = settings.path("nova")
    return {
        "DEFAULT": {
            **_log(settings, "nova"),
            "transport_url": settings.messaging_url,
            "compute_driver": "smartos.driver.SmartOSDriver",
            "state_path": str(state),
            "instances_path": str(state / "instances"),
            "my_ip": settings.address,
            "host": "demo-controller",
            # Periodic tasks start at once, not after up to 60 random seconds.
            "periodic_fuzzy_delay": "0",
            "graceful_shutdown_timeout": "5",
        },
        "api": {"auth_strategy": "keystone"},
        "oslo_concurrency": {"lock_path": str(state / "lock")},
        "conductor": {"workers": "1"},
        # The supervisor maps each new compute to the cell when it starts.
        "scheduler": {"workers": "1", "discover_hosts_in_cells_interval": "-1"},
        "glance": {"region_name": REGION},
        "service_user": {"send_service_user_token": "false"},
        "keystone_authtoken": _authtoken(settings, "nova"),
        "placement": _service_auth(settings, "placement"),
        "neutron": _service_auth(settings, "nova"),
        "smartos": {
            "ssh_key_file": str(settings.path("ssh", "id_ed25519")),
            "ssh_known_hosts_file": str(settings.path("ssh", "known_hosts")),
            "image_work_dir": str(state / "smartos-images"),
        },
    }


def nova_db(settings: DemoSettings) -> dict:
    return {"api_database": {"connection": settings.database("nova_api")},
            "database": {"connection": settings.database("nova")}}


def nova_service(settings: DemoSettings, name: str) -> dict:
    """A controller-side nova process of its own (deployed mode): its log."""
    return {"DEFAULT": _log(settings, name)}


def nova_compute(settings: DemoSettings, index: int) -> dict:
    """The options one nova-compute has of its own: host, identity, host URI."""
    name = settings.host_name(index)
    state = settings.path("nova", "computes", name)
    return {
        "DEFAULT": {**_log(settings, f"nova-compute-{name}"), "host": name,
                    "state_path": str(state), "instances_path": str(state / "instances")},
        "oslo_concurrency": {"lock_path": str(state / "lock")},
        "smartos": {"host_uri": settings.host_uri(index)},
    }


def bootstrap_args(settings: DemoSettings) -> list[str]:
    """keystone-manage bootstrap: the admin user, project, roles and identity endpoints."""
    return ["bootstrap", "--bootstrap-password", ADMIN_PASSWORD,
            "--bootstrap-admin-url", settings.auth_url,
            "--bootstrap-internal-url", settings.auth_url,
            "--bootstrap-public-url", settings.auth_url,
            "--bootstrap-region-id", REGION]


def packaged_file(distribution: str, suffix: str) -> Path:
    """A data file a wheel installs outside the package (e.g. etc/nova/api-paste.ini)."""
    for item in importlib.metadata.files(distribution) or ():
        if str(item).replace("\\", "/").endswith(suffix):
            path = Path(item.locate()).resolve()
            if path.exists():
                return path
    raise FileNotFoundError(f"{suffix} is not in the installed {distribution}")


def write_all(settings: DemoSettings) -> dict[str, Path]:
    """Write every service's configuration under <state>/etc; returns the paths
    by name (nova-compute-N for each host)."""
    import shutil
    etc = settings.path("etc")
    files = {
        "keystone": (etc / "keystone" / "keystone.conf", keystone(settings)),
        "glance": (etc / "glance" / "glance-api.conf", glance(settings)),
        "placement": (etc / "placement" / "placement.conf", placement(settings)),
        "nova": (etc / "nova" / "nova.conf", nova(settings)),
        "nova-db": (etc / "nova" / "nova-db.conf", nova_db(settings)),
    }
    for name in ("nova-api", "nova-conductor", "nova-scheduler"):
        files[name] = (etc / "nova" / f"{name}.conf", nova_service(settings, name))
    for index in range(1, settings.hosts + 1):
        files[f"nova-compute-{index}"] = (etc / "nova" / f"nova-compute-{index}.conf",
                                          nova_compute(settings, index))
        settings.path("nova", "computes", settings.host_name(index), "lock").mkdir(
            parents=True, exist_ok=True)
    for path, sections in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(sections))
    shutil.copy(packaged_file("nova", "etc/nova/api-paste.ini"), etc / "nova")
    shutil.copy(packaged_file("glance", "etc/glance/glance-api-paste.ini"), etc / "glance")
    for sub in ("log", "db", "nova/lock", "glance/images", "glance/staging",
                "glance/tasks", "glance/lock", "keystone/fernet-keys",
                "keystone/credential-keys", "ssh"):
        settings.path(sub).mkdir(parents=True, exist_ok=True)
    return {name: path for name, (path, _) in files.items()}
