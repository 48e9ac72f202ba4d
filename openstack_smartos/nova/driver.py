"""SmartOSDriver: nova-compute drives one SmartOS host through vmadm, imgadm and zfs.

Loaded by nova as ``compute_driver = smartos.driver.SmartOSDriver`` (the
``nova.virt.smartos`` shim). Everything the host does goes through the typed
clients of ``openstack_smartos.host``; host errors become nova errors in one
place (``_translated``). Translation from nova objects to vmadm payloads is
in the pure modules ``brands``, ``flavor``, ``vifs``, ``metadata`` and
``payload``.
"""

from __future__ import annotations

import contextlib
import datetime
import threading
import time

from oslo_config import cfg
from oslo_log import log as logging
from oslo_serialization import jsonutils

import os_resource_classes as orc

from nova.compute import power_state
from nova.console import type as console_type
from nova import exception
from nova.objects import fields as obj_fields
from nova.virt import driver
from nova.virt import event as virt_event
from nova.virt import hardware
from nova.virt import node as nova_node

from openstack_smartos.host import SmartOSHost, errors as host_errors
from openstack_smartos.nova import brands, conf as smartos_conf, diagnostics, images, metadata
from openstack_smartos.nova import payload
from openstack_smartos.nova import reserved, vifs

LOG = logging.getLogger(__name__)
CONF = cfg.CONF
smartos_conf.register_opts(CONF)

MANAGED_BY = "openstack:managed_by"
HVM_BRANDS = ("bhyve", "kvm")

# vmadm state -> nova power state (reference §3). Transitional states are
# NOSTATE so nova keeps polling instead of acting on them.
POWER_STATES = {
    "running": power_state.RUNNING,
    "stopped": power_state.SHUTDOWN,
    "installed": power_state.SHUTDOWN,
    "down": power_state.SHUTDOWN,
    "failed": power_state.CRASHED,
}

# How long VM states read in one lookup answer get_info when the poller is off.
STATE_CACHE_SECONDS = 5.0
# As libvirt: the console output nova returns is at most the last 100 KiB.
MAX_CONSOLE_BYTES = 100 * 1024

BRAND_TRAITS = {
    brand: f"CUSTOM_SMARTOS_BRAND_{brand.upper().replace('-', '_')}"
    for brand in ("joyent", "joyent-minimal", "lx", "bhyve", "kvm")
}


def power_state_of(vm_state: str) -> int:
    return POWER_STATES.get(vm_state, power_state.NOSTATE)


@contextlib.contextmanager
def _translated(instance=None, operation="operation"):
    """The one place host errors become nova errors."""
    try:
        yield
    except host_errors.NotFound as exc:
        if instance is not None:
            raise exception.InstanceNotFound(instance_id=instance.uuid) from exc
        raise exception.NovaException(f"SmartOS {operation}: {exc.message}") from exc
    except host_errors.TransportError as exc:
        raise exception.HypervisorUnavailable(host=str(exc)) from exc
    except host_errors.CommandTimeout as exc:
        raise exception.NovaException(f"SmartOS {operation} timed out: {exc}") from exc
    except host_errors.CommandError as exc:
        raise exception.NovaException(
            f"SmartOS {operation} failed: {exc.message or exc}") from exc


class SmartOSDriver(driver.ComputeDriver):
    """A nova virt driver for one SmartOS host (zones, LX, bhyve, KVM)."""

    capabilities = {
        **driver.ComputeDriver.capabilities,
        "has_imagecache": True,
        "supports_image_type_raw": True,
        "supports_image_type_qcow2": True,
    }

    def __init__(self, virtapi, read_only=False):
        super().__init__(virtapi)
        self._host_lock = threading.Lock()
        self._host: SmartOSHost | None = None
        self._sysinfo: dict | None = None
        self._images: images.ImageCache | None = None
        self._image_types: dict[str, dict] = {}   # glance id -> installed manifest
        self._states: dict[str, str] = {}         # vm uuid -> vmadm state (poller)
        self._states_at = 0.0
        self._poller: threading.Thread | None = None
        self._stop_polling = threading.Event()

    # -- the host ------------------------------------------------------------------
    @property
    def host(self) -> SmartOSHost:
        with self._host_lock:
            if self._host is None:
                opts = CONF.smartos
                options = {"default_timeout": opts.command_timeout}
                if opts.host_uri.startswith("ssh://"):
                    import os.path
                    options.update(
                        key_file=opts.ssh_key_file,
                        known_hosts=os.path.expanduser(opts.ssh_known_hosts_file),
                        verify_host_key=opts.ssh_verify_host_key)
                with _translated(operation="connect"):
                    self._host = SmartOSHost.connect(opts.host_uri, **options)
            return self._host

    @property
    def image_cache(self) -> images.ImageCache:
        if self._images is None:
            self._images = images.ImageCache(self.host, CONF.smartos)
        return self._images

    def _read_sysinfo(self) -> dict:
        with _translated(operation="sysinfo"):
            self._sysinfo = self.host.sysinfo.get(refresh=True)
        return self._sysinfo

    @property
    def sysinfo(self) -> dict:
        return self._sysinfo if self._sysinfo is not None else self._read_sysinfo()

    def init_host(self, host):
        """Connect, check that the host is a SmartOS global zone, then reconcile."""
        self._service_host = host
        info = self._read_sysinfo()
        if info.get("System Type") != "SunOS" or not info.get("UUID"):
            raise exception.NovaException(
                f"{CONF.smartos.host_uri} does not look like a SmartOS global zone "
                f"(sysinfo System Type {info.get('System Type')!r})")
        self._check_node_identity(info["UUID"])
        if info.get("Zpool") and info["Zpool"] != CONF.smartos.zpool:
            LOG.warning("The host's system pool is %s but [smartos]zpool is %s",
                        info["Zpool"], CONF.smartos.zpool)
        vms = self._managed_vms()
        LOG.info("SmartOS host %s (%s): %d CPUs, %s MiB, %d VMs of this deployment",
                 info.get("Hostname"), info["UUID"], info.get("CPU Online Count", 0),
                 info.get("MiB of Memory"), len(vms))
        self._remember_states(vms)
        interval = CONF.smartos.state_poll_interval
        if interval > 0 and self._poller is None:
            self._poller = threading.Thread(target=self._poll_states, args=(interval,),
                                            name="smartos-state-poller", daemon=True)
            self._poller.start()

    @staticmethod
    def _check_node_identity(host_uuid):
        """Keep nova's local node identity file equal to the host's UUID.

        nova-compute refuses a second start without <state_path>/compute_id;
        nova writes it only when the driver lets nova pick the node uuid,
        and ours is the SmartOS host's own. A file naming another host means
        this nova-compute now points at a different SmartOS host: refuse.
        """
        recorded = nova_node.read_local_node_uuid()
        if recorded is None:
            nova_node.write_local_node_uuid(host_uuid)
        elif recorded != host_uuid:
            raise exception.InvalidConfiguration(
                f"this nova-compute's node identity is {recorded}, but "
                f"{CONF.smartos.host_uri} is SmartOS host {host_uuid}; a compute "
                "service must keep driving the same host")

    def cleanup_host(self, host):
        self._stop_polling.set()
        if self._host is not None:
            self._host.close()

    # -- inventory of VMs --------------------------------------------------------------
    def _managed_vms(self) -> list[dict]:
        """This deployment's VMs (one round trip): [{uuid, alias, state}]."""
        with _translated(operation="vmadm lookup"):
            rows = self.host.vmadm.lookup(
                {f"internal_metadata.{MANAGED_BY}": CONF.smartos.deployment_marker},
                fields=["uuid", "alias", "state"])
        return rows

    def _remember_states(self, vms):
        self._states = {vm["uuid"]: vm["state"] for vm in vms}
        self._states_at = time.monotonic()

    def _poll_states(self, interval):
        """Report power-state changes made outside nova: one lookup per interval."""
        while not self._stop_polling.wait(interval):
            try:
                vms = self._managed_vms()
            except Exception as exc:  # keep polling through host hiccups
                LOG.warning("SmartOS state poll failed: %s", exc)
                continue
            previous = self._states
            self._remember_states(vms)
            for vm in vms:
                before, after = previous.get(vm["uuid"]), vm["state"]
                if before is None or before == after:
                    continue
                transition = {power_state.RUNNING: virt_event.EVENT_LIFECYCLE_STARTED,
                              power_state.SHUTDOWN: virt_event.EVENT_LIFECYCLE_STOPPED,
                              power_state.CRASHED: virt_event.EVENT_LIFECYCLE_STOPPED,
                              }.get(power_state_of(after))
                if transition is not None:
                    self.emit_event(virt_event.LifecycleEvent(vm["uuid"], transition))

    def list_instances(self):
        return [vm["uuid"] for vm in self._managed_vms()]

    def list_instance_uuids(self):
        return [vm["uuid"] for vm in self._managed_vms()]

    def instance_exists(self, instance):
        return self._owned_vm(instance) is not None

    def _owned_vm(self, instance) -> dict | None:
        """The instance's VM if it exists and is ours; None if it does not exist."""
        try:
            with _translated(instance, "vmadm get"):
                vm = self.host.vmadm.get(instance.uuid)
        except exception.InstanceNotFound:
            return None
        if vm.get("internal_metadata", {}).get(MANAGED_BY) != CONF.smartos.deployment_marker:
            raise exception.NovaException(
                f"VM {instance.uuid} on the SmartOS host was not created by this "
                f"deployment ({MANAGED_BY} differs); refusing to touch it")
        return vm

    def get_info(self, instance, use_cache=True):
        """The VM's power state.

        With ``use_cache`` (nova's power-state sync asks this for every
        instance), a stale cache is refreshed for all VMs at once with one
        lookup, so the sync never costs one host call per VM.
        """
        if use_cache:
            freshness = max(2 * CONF.smartos.state_poll_interval, STATE_CACHE_SECONDS)
            if time.monotonic() - self._states_at >= freshness:
                self._remember_states(self._managed_vms())
            if instance.uuid in self._states:
                return hardware.InstanceInfo(
                    state=power_state_of(self._states[instance.uuid]))
        vm = self._owned_vm(instance)
        if vm is None:
            raise exception.InstanceNotFound(instance_id=instance.uuid)
        self._states[instance.uuid] = vm["state"]
        return hardware.InstanceInfo(state=power_state_of(vm["state"]))

    # -- spawn and destroy -----------------------------------------------------------------
    def spawn(self, context, instance, image_meta, injected_files,
              admin_password, allocations, network_info=None,
              block_device_info=None, power_on=True, accel_info=None):
        image_id = instance.image_ref
        manifest = self._installed_image(context, image_id)
        try:
            spec = self._instance_spec(instance, image_meta, manifest, network_info,
                                       admin_password, power_on)
            create_payload = payload.build_create_payload(spec)
        except ValueError as exc:
            # Brand, flavor, network or metadata the host cannot honour: the
            # translation modules raise ValueError subclasses with the reason.
            raise exception.InstanceDeployFailure(reason=str(exc)) from exc
        try:
            self._create_vm(instance, create_payload)
        except host_errors.InvalidPayload as exc:
            if "image_uuid" not in exc.message or image_id not in self._image_types:
                self._cleanup_failed_spawn(instance)
                raise exception.InstanceDeployFailure(
                    reason=f"vmadm refused the VM: {exc.message}") from exc
            # The image vanished from the host since we last saw it: install it
            # again and retry once.
            self._image_types.pop(image_id, None)
            self._installed_image(context, image_id)
            try:
                self._create_vm(instance, create_payload)
            except host_errors.SmartOSError as retry_exc:
                self._cleanup_failed_spawn(instance)
                raise exception.InstanceDeployFailure(
                    reason=f"vmadm create failed: {retry_exc}") from retry_exc
        except host_errors.SmartOSError as exc:
            self._cleanup_failed_spawn(instance)
            raise exception.InstanceDeployFailure(
                reason=f"vmadm create failed: {getattr(exc, 'message', '') or exc}") from exc
        self._states[instance.uuid] = "running" if power_on else "stopped"

    def _create_vm(self, instance, create_payload):
        self.host.vmadm.create(create_payload, timeout=CONF.smartos.create_timeout)

    def _cleanup_failed_spawn(self, instance):
        """Remove whatever a failed create left (a half-made or failed VM)."""
        try:
            vm = self._owned_vm(instance)
            if vm is not None:
                self.host.vmadm.delete(instance.uuid)
        except Exception as exc:  # the original failure is what matters
            LOG.warning("Could not clean up VM %s after a failed spawn: %s",
                        instance.uuid, exc, instance=instance)
        self._states.pop(instance.uuid, None)

    def _installed_image(self, context, image_id) -> dict:
        manifest = self._image_types.get(image_id)
        if manifest is None:
            try:
                manifest = self.image_cache.ensure(context, image_id)
            except images.ImageInstallError as exc:
                raise exception.InstanceDeployFailure(
                    reason=f"image {image_id} could not be installed on the SmartOS "
                           f"host: {exc.reason}") from exc
            except host_errors.SmartOSError as exc:
                raise exception.InstanceDeployFailure(
                    reason=f"image {image_id}: {exc}") from exc
            self._image_types[image_id] = manifest
        return manifest

    def _instance_spec(self, instance, image_meta, manifest, network_info,
                       admin_password, power_on) -> payload.InstanceSpec:
        flavor = instance.flavor
        extra_specs = dict(flavor.extra_specs or {})
        props = image_meta.properties
        image_props = {name: getattr(props, name) for name in
                       ("hw_vm_mode", "img_hv_type", "os_type", "os_distro")
                       if props.obj_attr_is_set(name)}
        brand = brands.select_brand(
            image_props, manifest.get("type"), extra_specs,
            default_zone_brand=CONF.smartos.default_zone_brand,
            default_hvm_brand=CONF.smartos.default_hvm_brand)
        vif_list = list(network_info or [])
        nics = vifs.nics_from_network_info(
            vif_list, brand, dict(CONF.smartos.physical_network_nic_tags),
            CONF.smartos.default_nic_tag)
        customer, internal = metadata.guest_metadata(
            hostname=instance.hostname or instance.uuid,
            key_data=instance.key_data,
            user_data_b64=instance.user_data,
            instance_metadata=dict(instance.metadata or {}),
            admin_password=admin_password,
            instance_uuid=instance.uuid)
        return payload.InstanceSpec(
            uuid=instance.uuid, name=instance.display_name or instance.uuid,
            hostname=instance.hostname or instance.uuid, brand=brand,
            image_uuid=manifest["uuid"], image_size_mib=manifest.get("image_size"),
            memory_mb=flavor.memory_mb, vcpus=flavor.vcpus, root_gb=flavor.root_gb,
            ephemeral_gb=flavor.ephemeral_gb, swap_mb=flavor.swap,
            extra_specs=extra_specs, nics=nics,
            resolvers=vifs.resolvers_from_network_info(vif_list),
            routes=vifs.routes_from_network_info(vif_list),
            customer_metadata=customer, internal_metadata=internal,
            owner_marker=CONF.smartos.deployment_marker,
            kernel_version=manifest.get("tags", {}).get("kernel_version")
            or CONF.smartos.lx_kernel_version,
            autoboot=power_on, flavor_name=flavor.name)

    def destroy(self, context, instance, network_info, block_device_info=None,
                destroy_disks=True, destroy_secrets=True):
        """Delete the VM and everything it owns; deleting a missing VM is fine."""
        if self._owned_vm(instance) is not None:
            try:
                with _translated(instance, "vmadm delete"):
                    self.host.vmadm.delete(instance.uuid)
            except exception.InstanceNotFound:
                pass  # gone meanwhile: the goal is reached
        self._states.pop(instance.uuid, None)

    def cleanup(self, context, instance, network_info, block_device_info=None,
                destroy_disks=True, migrate_data=None, destroy_vifs=True,
                destroy_secrets=True):
        if destroy_disks:
            self.destroy(context, instance, network_info, block_device_info)

    # -- power -------------------------------------------------------------------------
    def reboot(self, context, instance, network_info, reboot_type,
               block_device_info=None, bad_volumes_callback=None,
               accel_info=None, share_info=None):
        vm = self._owned_vm(instance)
        if vm is None:
            raise exception.InstanceNotFound(instance_id=instance.uuid)
        with _translated(instance, "reboot"):
            if vm["state"] != "running":
                # A hard reboot of a stopped instance brings it up (nova's
                # contract); a soft one of a stopped instance is refused.
                if reboot_type != "HARD":
                    raise exception.InstanceRebootFailure(
                        reason=f"VM is {vm['state']}, not running")
                self.host.vmadm.start(instance.uuid)
            else:
                self.host.vmadm.reboot(instance.uuid, force=reboot_type == "HARD")
        self._states[instance.uuid] = "running"

    def power_off(self, instance, timeout=0, retry_interval=0):
        """Graceful stop within ``timeout`` seconds, then forced; 0 forces at once."""
        vm = self._owned_vm(instance)
        if vm is None:
            raise exception.InstanceNotFound(instance_id=instance.uuid)
        with _translated(instance, "power off"):
            if not timeout:
                self.host.vmadm.stop(instance.uuid, force=True)
            elif vm["brand"] in HVM_BRANDS:
                # vmadm halts the HVM itself when the ACPI stop exceeds -t.
                self.host.vmadm.stop(instance.uuid, timeout=int(timeout),
                                     command_timeout=timeout + CONF.smartos.command_timeout)
            else:
                # Zones: vmadm runs shutdown in the zone and halts it after 60 s.
                self.host.vmadm.stop(instance.uuid)
        self._states[instance.uuid] = "stopped"

    def power_on(self, context, instance, network_info,
                 block_device_info=None, accel_info=None, share_info=None):
        if self._owned_vm(instance) is None:
            raise exception.InstanceNotFound(instance_id=instance.uuid)
        with _translated(instance, "power on"):
            self.host.vmadm.start(instance.uuid)
        self._states[instance.uuid] = "running"

    def resume_state_on_host_boot(self, context, instance, network_info,
                                  share_info, block_device_info=None):
        """SmartOS restores autoboot VMs itself; start the ones nova wants running."""
        vm = self._owned_vm(instance)
        if vm is not None and vm["state"] != "running":
            with _translated(instance, "power on"):
                self.host.vmadm.start(instance.uuid)

    # -- consoles ------------------------------------------------------------------------
    def get_console_output(self, context, instance):
        """The end of what the guest printed on its console, as bytes.

        zoneadmd logs the zone console, which is the guest's serial port for
        bhyve; a KVM guest's serial port is a socket nothing records.
        """
        vm = self._owned_vm(instance)
        if vm is None:
            raise exception.InstanceNotFound(instance_id=instance.uuid)
        if vm["brand"] == "kvm":
            raise exception.ConsoleNotAvailable()
        with _translated(instance, "console log"):
            return self.host.zonelogs.console(instance.uuid, MAX_CONSOLE_BYTES,
                                              zonepath=vm.get("zonepath"))

    def get_vnc_console(self, context, instance):
        vm = self._owned_vm(instance)
        if vm is None:
            raise exception.InstanceNotFound(instance_id=instance.uuid)
        if vm["brand"] not in HVM_BRANDS:
            raise exception.ConsoleTypeUnavailable(console_type="vnc")
        with _translated(instance, "vmadm info"):
            info = self.host.vmadm.info(instance.uuid, ["vnc"])
        vnc = info.get("vnc") or {}
        if not vnc.get("port"):
            raise exception.ConsoleTypeUnavailable(console_type="vnc")
        return console_type.ConsoleVNC(host=vnc["host"], port=vnc["port"])

    # -- diagnostics ----------------------------------------------------------------------
    def get_diagnostics(self, instance):
        """The VM's state, memory, CPU, ZFS and VNIC counters (one get, one kstat)."""
        vm = self._owned_vm(instance)
        if vm is None:
            raise exception.InstanceNotFound(instance_id=instance.uuid)
        stats = None
        if vm.get("zoneid") is not None and vm.get("state") == "running":
            with _translated(instance, "kstat"):
                stats = self.host.kstat.zone_stats(zoneid=vm["zoneid"]).get(instance.uuid)
        return diagnostics.legacy_diagnostics(vm, stats, time.time())

    # -- the host's resources -------------------------------------------------------------
    def get_available_nodes(self, refresh=False):
        return [self._nodename()]

    def _nodename(self) -> str:
        info = self.sysinfo
        return info.get("Hostname") or info["UUID"]

    def get_nodenames_by_uuid(self, refresh=False):
        # The node identity is the host's own (sysinfo UUID), so several
        # nova-computes, each driving its own SmartOS host, stay distinct.
        return {self.sysinfo["UUID"]: self._nodename()}

    def get_available_resource(self, nodename):
        """Host figures from one sysinfo call and one lookup, whatever the VM count.

        The usage figures are nova's to compute (the resource tracker sums its
        instances); the pool's total is sysinfo's "Zpool Size in GiB". The
        lookup finds the memory VMs hold beyond nova's allocations
        (``reserved``), which update_provider_tree reserves.
        """
        info = self._read_sysinfo()
        with _translated(operation="vmadm lookup"):
            vms = self.host.vmadm.lookup(fields=list(reserved.LOOKUP_FIELDS))
        marker = CONF.smartos.deployment_marker
        cpus = int(info.get("CPU Online Count") or info.get("CPU Total Cores") or 1)
        memory_mb = int(info.get("MiB of Memory") or 0)
        disk_gb = int(info.get("Zpool Size in GiB") or 0)
        self._resources = {
            "vcpus": cpus, "memory_mb": memory_mb, "local_gb": disk_gb,
            "memory_mb_reserved": reserved.reserved_memory_mb(
                vms, MANAGED_BY, marker, CONF.reserved_host_memory_mb, memory_mb)}
        return {
            "vcpus": cpus,
            "memory_mb": memory_mb,
            "local_gb": disk_gb,
            "vcpus_used": 0,
            "memory_mb_used": 0,
            "local_gb_used": 0,
            "hypervisor_type": "bhyve" if info.get("Bhyve Capable") else "kvm",
            "hypervisor_version": _platform_version(info.get("Live Image")),
            "hypervisor_hostname": nodename,
            "cpu_info": jsonutils.dumps(_cpu_info(info)),
            "disk_available_least": None,
            "numa_topology": None,
            "supported_instances": self._supported_instances(info),
            "uuid": info["UUID"],
        }

    def _supported_brands(self, info) -> list[str]:
        supported = ["joyent", "joyent-minimal", "lx"]
        if info.get("Bhyve Capable"):
            supported.append("bhyve")
        if info.get("HVM API") or info.get("CPU Virtualization") in ("vmx", "svm"):
            supported.append("kvm")
        return supported

    def _supported_instances(self, info):
        """(arch, hypervisor, vm mode) for the scheduler's ImagePropertiesFilter.

        HVM images name bhyve or kvm in img_hv_type; container images say
        hw_vm_mode=exe. nova has no hypervisor type for zones, so the exe
        entries carry the host's HVM types too.
        """
        arch = obj_fields.Architecture.X86_64
        hvms = [b for b in self._supported_brands(info) if b in HVM_BRANDS] or ["bhyve"]
        return ([(arch, hv, obj_fields.VMMode.HVM) for hv in hvms]
                + [(arch, hv, obj_fields.VMMode.EXE) for hv in hvms])

    def update_provider_tree(self, provider_tree, nodename, allocations=None):
        resources = getattr(self, "_resources", None)
        if resources is None:
            self.get_available_resource(nodename)
            resources = self._resources
        inventory = provider_tree.data(nodename).inventory
        ratios = self._get_allocation_ratios(inventory)
        reserved_disk = self._get_reserved_host_disk_gb_from_config()
        result = {
            orc.VCPU: {"total": resources["vcpus"], "min_unit": 1,
                       "max_unit": resources["vcpus"], "step_size": 1,
                       "allocation_ratio": ratios[orc.VCPU],
                       "reserved": CONF.reserved_host_cpus},
            orc.MEMORY_MB: {"total": resources["memory_mb"], "min_unit": 1,
                            "max_unit": resources["memory_mb"], "step_size": 1,
                            "allocation_ratio": ratios[orc.MEMORY_MB],
                            "reserved": resources["memory_mb_reserved"]},
            orc.DISK_GB: {"total": resources["local_gb"], "min_unit": 1,
                          "max_unit": resources["local_gb"], "step_size": 1,
                          "allocation_ratio": ratios[orc.DISK_GB],
                          "reserved": reserved_disk},
        }
        provider_tree.update_inventory(nodename, result)
        traits = set(provider_tree.data(nodename).traits)
        # Keep the traits nova manages (capabilities), replace only ours.
        traits = {t for t in traits if not t.startswith("CUSTOM_SMARTOS_BRAND_")}
        traits.update(BRAND_TRAITS[b] for b in self._supported_brands(self.sysinfo))
        provider_tree.update_traits(nodename, traits)

    def get_host_uptime(self):
        boot = int(self.sysinfo.get("Boot Time") or 0)
        seconds = max(0, int(time.time()) - boot)
        days, rest = divmod(seconds, 86400)
        hours, minutes = divmod(rest // 60, 60)
        now = datetime.datetime.now().strftime("%H:%M:%S")
        return f" {now} up {days} day{'s' if days != 1 else ''}, {hours:2d}:{minutes:02d}"

    def get_host_ip_addr(self):
        return self.sysinfo.get("Admin IP") or CONF.my_ip

    # -- images -----------------------------------------------------------------------
    def cache_image(self, context, image_id):
        try:
            installed = self.image_cache.cache_image(context, image_id)
        except images.ImageInstallError as exc:
            raise exception.NovaException(
                f"image {image_id} could not be cached on the SmartOS host: {exc.reason}"
            ) from exc
        return installed

    def manage_image_cache(self, context, all_instances):
        """Delete cached images no instance on this host uses.

        nova passes the instances of every compute sharing instances_path;
        images live in this host's own pool, so only its instances count.
        """
        in_use = {inst.image_ref for inst in all_instances
                  if inst.image_ref and inst.host == getattr(self, "_service_host", inst.host)}
        removed = self.image_cache.cleanup(in_use)
        for image_uuid in removed:
            self._image_types.pop(image_uuid, None)

    # -- networking (VNICs are created by vmadm with the VM) -------------------------------
    def plug_vifs(self, instance, network_info):
        pass

    def unplug_vifs(self, instance, network_info):
        pass


def _cpu_info(info) -> dict:
    """nova's cpu_info document from sysinfo (the API shows it as JSON)."""
    sockets = int(info.get("CPU Socket Count") or 1)
    cores = int(info.get("CPU Core Count") or 1)
    threads = int(info.get("CPU Count") or cores) // max(cores, 1)
    model = str(info.get("CPU Type") or "")
    vendor = ("Intel" if "Intel" in model else "AMD" if "AMD" in model else "")
    return {"arch": obj_fields.Architecture.X86_64, "model": model, "vendor": vendor,
            "topology": {"sockets": sockets, "cores": max(cores // sockets, 1),
                         "threads": max(threads, 1)},
            "features": [info["CPU Virtualization"]]
            if info.get("CPU Virtualization") not in (None, "none") else []}


def _platform_version(live_image) -> int:
    """nova wants an integer: the platform build date, e.g. 20260301."""
    digits = "".join(ch for ch in (live_image or "")[:8] if ch.isdigit())
    return int(digits) if digits else 0
