"""``openstack-smartos tempest-config``: a tempest.conf for the running demo.

The ``[compute-feature-enabled]`` switches come from the driver itself: a
feature is on only when ``SmartOSDriver`` overrides every ComputeDriver
method it needs, and the demo runs whatever else it needs (a console proxy,
Neutron, Cinder). The images and flavors tempest boots are the demo's zone
image (plus a second copy for rebuilds) and its zone flavors.
"""

from __future__ import annotations

from pathlib import Path

from openstack_smartos.aio import configs, content
from openstack_smartos.aio.bootstrap import admin_connection
from openstack_smartos.aio.settings import ADMIN_PASSWORD, REGION, DemoSettings

ALT_IMAGE = "smartos-zone-demo-alt"

# tempest flag -> ComputeDriver methods the driver must implement.
DRIVER_FEATURES = {
    "console_output": ("get_console_output",),
    "pause": ("pause", "unpause"),
    "suspend": ("suspend", "resume"),
    "rescue": ("rescue", "unrescue"),
    "resize": ("migrate_disk_and_power_off", "finish_migration", "confirm_migration"),
    "cold_migration": ("migrate_disk_and_power_off", "finish_migration",
                       "confirm_migration"),
    "live_migration": ("live_migration",),
    "snapshot": ("snapshot",),
    "shelve": ("snapshot",),
    "change_password": ("set_admin_password",),
    "serial_console": ("get_serial_console",),
    "spice_console": ("get_spice_console",),
}
# Off whatever the driver does, and why.
DEMO_LIMITS = {
    "vnc_console": "the demo runs no nova-novncproxy (and zones have no VNC)",
    "interface_attach": "no Neutron yet",
    "swap_volume": "no Cinder yet",
    "volume_multiattach": "no Cinder yet",
    "volume_backed_live_migration": "no Cinder yet",
    "attach_encrypted_volume": "no Cinder yet",
    "metadata_service": "no metadata API service in the demo",
    "config_drive": "the driver writes metadata to customer_metadata, not a config drive",
    "personality": "the driver does not inject files",
    "stable_rescue": "libvirt only",
    "block_migration_for_live_migration": "no live migration",
}


def implemented(driver_cls, method: str) -> bool:
    from nova.virt import driver
    return getattr(driver_cls, method, None) is not getattr(driver.ComputeDriver, method)


def feature_flags(driver_cls) -> dict[str, bool]:
    flags = {flag: all(implemented(driver_cls, m) for m in methods)
             for flag, methods in DRIVER_FEATURES.items()}
    flags.update({flag: False for flag in DEMO_LIMITS})
    flags["hostname_fqdn_sanitization"] = True      # nova >= 2.94 behaviour
    return flags


def tempest_conf(settings: DemoSettings, refs: dict, flags: dict, log_dir: Path) -> dict:
    def on_off(value):
        return "true" if value else "false"

    return {
        "DEFAULT": {"log_dir": str(log_dir), "log_file": "tempest.log"},
        "auth": {"use_dynamic_credentials": "true", "admin_username": "admin",
                 "admin_password": ADMIN_PASSWORD, "admin_project_name": "admin",
                 "admin_domain_name": "Default",
                 # no Neutron: no network, subnet or router per test project
                 "create_isolated_networks": "false"},
        "identity": {"uri_v3": settings.auth_url, "auth_version": "v3", "region": REGION,
                     "v3_endpoint_type": "public"},
        "identity-feature-enabled": {"api_v2": "false", "api_v3": "true"},
        "compute": {"region": REGION, "endpoint_type": "publicURL",
                    "image_ref": refs["image_ref"], "image_ref_alt": refs["image_ref_alt"],
                    "flavor_ref": refs["flavor_ref"], "flavor_ref_alt": refs["flavor_ref_alt"],
                    "min_compute_nodes": str(settings.hosts),
                    # without them every microversioned test is skipped
                    "min_microversion": "2.1", "max_microversion": "latest",
                    "build_timeout": "180", "build_interval": "1"},
        "compute-feature-enabled": {flag: on_off(v) for flag, v in sorted(flags.items())},
        "service_available": {"nova": "true", "glance": "true", "neutron": "false",
                              "cinder": "false", "swift": "false", "horizon": "false"},
        # guests are emulated: nothing answers ssh or ping
        "validation": {"run_validation": "false"},
        "image": {"region": REGION, "endpoint_type": "publicURL"},
        "image-feature-enabled": {"api_v1": "false"},
        "placement": {"region": REGION, "endpoint_type": "public"},
    }


def _ensure_alt_image(conn) -> str:
    """A second zone image (the same bytes) for tempest's rebuild tests."""
    image = conn.image.find_image(ALT_IMAGE, ignore_missing=True)
    if image is None:
        import tempfile
        with tempfile.TemporaryDirectory(prefix="smartos-demo-images-") as tmp:
            path = content.zone_image_file(Path(tmp))
            image = conn.image.create_image(
                name=ALT_IMAGE, filename=str(path), disk_format="raw",
                container_format="bare", visibility="public", wait=True,
                **content.IMAGE_PROPERTIES[content.ZONE_IMAGE])
    return image.id


def write(settings: DemoSettings, output: Path, log_dir: Path | None = None) -> Path:
    from openstack_smartos.nova.driver import SmartOSDriver
    conn = admin_connection(settings)
    refs = {"image_ref": conn.image.find_image(content.ZONE_IMAGE).id,
            "image_ref_alt": _ensure_alt_image(conn),
            "flavor_ref": conn.compute.find_flavor("z1.small").id,
            "flavor_ref_alt": conn.compute.find_flavor("z1.medium").id}
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    sections = tempest_conf(settings, refs, feature_flags(SmartOSDriver),
                            log_dir or output.parent)
    notes = "".join(f"# {flag} = false: {why}\n" for flag, why in sorted(DEMO_LIMITS.items()))
    output.write_text("# tempest.conf for the openstack-smartos demo cloud "
                      "(openstack-smartos tempest-config)\n" + notes + "\n"
                      + configs.render(sections))
    return output


# -- running it ---------------------------------------------------------------------------
def run(settings: DemoSettings, workspace: Path, *, regex: str | None = None,
        include_list: Path | None = None, concurrency: int = 2, timeout: float = 7200) -> dict:
    """``tempest run`` in a new workspace against the running demo; the counts.

    Returns {"passed", "skipped", "failed", "failed_tests", "seconds",
    "returncode"}; the whole output is kept in <workspace>/tempest-run.out.
    """
    import re
    import subprocess
    import sys
    import time
    tempest_bin = Path(sys.executable).with_name("tempest")
    workspace = Path(workspace)
    # A workspace registry of its own: tempest's default (~/.tempest) refuses
    # a second workspace of the same name.
    init = subprocess.run([str(tempest_bin), "init", "--name", workspace.name,
                           "--workspace-path", str(workspace.parent / "tempest-workspaces.yaml"),
                           str(workspace)], capture_output=True, text=True)
    if init.returncode:
        raise RuntimeError(f"tempest init {workspace} failed: {init.stderr.strip()}")
    write(settings, workspace / "etc" / "tempest.conf", workspace / "logs")
    argv = [str(tempest_bin), "run", "--concurrency", str(concurrency)]
    if include_list is not None:
        argv += ["--include-list", str(Path(include_list).resolve())]
    else:
        argv += ["--regex", regex or r"^tempest\.api\.compute"]
    started = time.monotonic()
    result = subprocess.run(argv, cwd=workspace, capture_output=True, text=True,
                            timeout=timeout)
    output = result.stdout + result.stderr
    (workspace / "tempest-run.out").write_text(output)

    def total(label):
        found = re.findall(rf"^\s*- {label}: (\d+)", output, re.MULTILINE)
        return int(found[-1]) if found else 0

    failed_tests = sorted(set(re.findall(r"^\{\d+\} (\S+?)(?: \[[^\]]*\])? \.\.\. FAILED",
                                         output, re.MULTILINE)))
    return {"passed": total("Passed"), "skipped": total("Skipped"),
            "failed": total("Failed"), "failed_tests": failed_tests,
            "seconds": round(time.monotonic() - started, 1),
            "returncode": result.returncode}
