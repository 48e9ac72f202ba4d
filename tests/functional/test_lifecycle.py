"""Server lifecycles through the nova API on emulated SmartOS hosts.

Each test runs the whole stack (API, conductor, scheduler, placement, one
nova-compute per emulated host) and checks both what nova says and what the
host has (vmadm, zfs, imgadm, through the emulator's own tools).
"""

from __future__ import annotations

import time

from nova.tests.functional.api import client as api_client

from . import fixtures as sf


def _vm_image_uuid(vm) -> str | None:
    """The imgadm image a VM was created from (zones: image_uuid; HVM: disk 0)."""
    if vm.get("image_uuid"):
        return vm["image_uuid"]
    for disk in vm.get("disks") or ():
        if disk.get("image_uuid"):
            return disk["image_uuid"]
    return None


class _LifecycleMixin:
    """One whole lifecycle per test: boot, reboot soft and hard, stop, start, delete."""

    KIND: str = ""
    BRAND: str = ""
    HVM = False

    def _check_on_host(self, host, server, flavor, state="running") -> dict:
        vm = sf.vmadm_get(host, server["id"])
        self.assertIsNotNone(vm, f"server {server['id']} has no VM on the host")
        self.assertEqual(self.BRAND, vm["brand"])
        self.assertEqual(state, vm["state"])
        if self.HVM:
            self.assertEqual(flavor["ram"], vm["ram"])
            self.assertEqual(flavor["vcpus"], vm["vcpus"])
        else:
            self.assertEqual(flavor["ram"], vm["max_physical_memory"])
        # the VM's storage is a clone of the installed image
        image_uuid = _vm_image_uuid(vm)
        self.assertIsNotNone(image_uuid, vm)
        self.assertIn(image_uuid, sf.imgadm_list(host))
        zpool = host.zpool
        origins = sf.zfs_origins(host)
        clones = {name for name, origin in origins.items()
                  if origin == f"{zpool}/{image_uuid}@final"}
        mine = {name for name in clones if server["id"] in name}
        self.assertTrue(mine, f"no dataset of {server['id']} is a clone of "
                              f"{zpool}/{image_uuid}@final: {origins}")
        return vm

    def test_lifecycle(self):
        host = self.host1
        image_id = self._register_image(self.KIND)
        flavor_id = self._flavor(self.KIND)
        flavor = self.api.get_flavor(flavor_id)

        server = self._boot(image_id, flavor_id)
        self.assertEqual("compute1", server["OS-EXT-SRV-ATTR:host"])
        self.assertEqual(1, server["OS-EXT-STS:power_state"])   # RUNNING
        vm = self._check_on_host(host, server, flavor)
        image_uuid = _vm_image_uuid(vm)
        self.assertEqual({server["id"]: "running"}, sf.vmadm_list(host))
        self._check_vm_details(vm, flavor)

        # reboots keep it running
        server = self._reboot_server(server, hard=False)
        self.assertEqual("running", sf.vmadm_get(host, server["id"])["state"])
        server = self._reboot_server(server, hard=True)
        self.assertEqual("running", sf.vmadm_get(host, server["id"])["state"])

        # stop / start
        server = self._stop_server(server)
        self.assertEqual(4, server["OS-EXT-STS:power_state"])   # SHUTDOWN
        self.assertEqual("stopped", sf.vmadm_get(host, server["id"])["state"])
        server = self._start_server(server)
        self._check_on_host(host, server, flavor, state="running")

        # delete: nothing of the instance stays; the image stays cached
        self._delete_server(server)
        self.assertRaises(api_client.OpenStackApiNotFoundException,
                          self.api.get_server, server["id"])
        self.assertEqual({}, sf.vmadm_list(host))
        self.assertEqual([], sf.datasets_of(host, server["id"]))
        self.assertIn(image_uuid, sf.imgadm_list(host))
        self.assertIn(f"{host.zpool}/{image_uuid}", sf.zfs_list(host))

        self._assert_nothing_staged()

        # placement: the allocation is gone
        rp = self._get_provider_uuid_by_host("compute1")
        usages = self._get_provider_usages(rp)
        self.assertEqual(0, usages.get("VCPU", 0))
        self.assertEqual(0, usages.get("MEMORY_MB", 0))

    def _check_vm_details(self, vm, flavor):
        pass


class TestJoyentZoneLifecycle(_LifecycleMixin, sf.SmartOSFunctionalBase):
    KIND, BRAND = "zone", "joyent"

    def _check_vm_details(self, vm, flavor):
        # smartos:cpu_cap from the flavor (fixtures.FLAVORS["zone"])
        self.assertEqual(100, vm.get("cpu_cap"))
        self.assertEqual(flavor["disk"], vm.get("quota"))   # GiB


class TestLXZoneLifecycle(_LifecycleMixin, sf.SmartOSFunctionalBase):
    KIND, BRAND = "lx", "lx"

    def _check_vm_details(self, vm, flavor):
        self.assertTrue(vm.get("kernel_version"), vm)


class TestBhyveLifecycle(_LifecycleMixin, sf.SmartOSFunctionalBase):
    KIND, BRAND, HVM = "bhyve", "bhyve", True


class TestKVMLifecycle(_LifecycleMixin, sf.SmartOSFunctionalBase):
    KIND, BRAND, HVM = "kvm", "kvm", True


class TestFlavorZoneBrand(sf.SmartOSFunctionalBase):

    def test_joyent_minimal_from_flavor(self):
        """smartos:brand=joyent-minimal in the flavor (documented in brands.py)."""
        image_id = self._register_image("zone")
        flavor_id = self._flavor("zone", extra_spec={"smartos:brand": "joyent-minimal"})
        server = self._boot(image_id, flavor_id)
        self.assertEqual("joyent-minimal", sf.vmadm_get(self.host1, server["id"])["brand"])
        self._delete_server(server)
        self.assertEqual({}, sf.vmadm_list(self.host1))


class TestNeutronPort(sf.SmartOSFunctionalBase):

    def test_zone_with_neutron_port(self):
        """A port from nova's NeutronFixture becomes the zone's NIC."""
        port = self.neutron.port_1
        image_id = self._register_image("zone")
        flavor_id = self._flavor("zone")
        server = self._create_server(image_uuid=image_id, flavor_id=flavor_id,
                                     networks=[{"port": port["id"]}])
        vm = sf.vmadm_get(self.host1, server["id"])
        self.assertEqual(1, len(vm["nics"]), vm["nics"])
        nic = vm["nics"][0]
        self.assertEqual(port["mac_address"], nic["mac"])
        self.assertEqual("external", nic["nic_tag"])   # [smartos] default_nic_tag
        self.assertTrue(nic.get("primary"))
        ips = nic.get("ips") or [nic.get("ip")]
        self.assertTrue(any(ip.split("/")[0] == port["fixed_ips"][0]["ip_address"]
                            for ip in ips if ip), nic)
        self.assertEqual([port["fixed_ips"][0]["ip_address"]],
                         [a["addr"] for addrs in server["addresses"].values()
                          for a in addrs])
        self._delete_server(server)
        self.assertEqual({}, sf.vmadm_list(self.host1))


# -- the compute node as nova and placement see it ---------------------------------------

class TestHostReporting(sf.SmartOSFunctionalBase):
    HOST_KWARGS = dict(cpus=12, memory_mib=32768, zpool_gib=300)

    def _pool_total_gib(self, host):
        _rc, out, _err = sf.run(host, "zfs", "list", "-Hp", "-o", "used,available",
                                host.zpool)
        used, available = (int(v) for v in out.split())
        return (used + available) // (1 << 30)

    def test_inventory_traits_and_hypervisors(self):
        rp = self._get_provider_uuid_by_host("compute1")
        # node identity: the host's sysinfo UUID
        self.assertEqual(sf.host_uuid(self.host1), rp)
        inventory = self._get_provider_inventory(rp)
        self.assertEqual(12, inventory["VCPU"]["total"])
        self.assertEqual(32768, inventory["MEMORY_MB"]["total"])
        disk_gb = inventory["DISK_GB"]["total"]
        self.assertEqual(self._pool_total_gib(self.host1), disk_gb)
        self.assertTrue(270 <= disk_gb <= 300, disk_gb)

        traits = set(self._get_provider_traits(rp))
        for brand in ("JOYENT", "JOYENT_MINIMAL", "LX", "BHYVE", "KVM"):
            self.assertIn(f"CUSTOM_SMARTOS_BRAND_{brand}", traits)
        self.assertIn("COMPUTE_IMAGE_TYPE_RAW", traits)

        hypervisors = self.admin_api.api_get(
            "/os-hypervisors/detail").body["hypervisors"]
        self.assertEqual(1, len(hypervisors))
        hyp = hypervisors[0]
        self.assertEqual("bhyve", hyp["hypervisor_type"])
        self.assertEqual(sf.host_uuid(self.host1), hyp["id"])
        self.assertEqual("compute1", hyp["hypervisor_hostname"])
        self.assertEqual("up", hyp["state"])

    def test_two_computes_two_hosts(self):
        self._start_smartos_compute("compute2", cpus=4, memory_mib=8192, zpool_gib=100)
        host2 = self.sim_hosts["compute2"]
        rp1 = self._get_provider_uuid_by_host("compute1")
        rp2 = self._get_provider_uuid_by_host("compute2")
        self.assertNotEqual(rp1, rp2)
        self.assertEqual(sf.host_uuid(self.host1), rp1)
        self.assertEqual(sf.host_uuid(host2), rp2)
        self.assertEqual(4, self._get_provider_inventory(rp2)["VCPU"]["total"])
        self.assertEqual(8192, self._get_provider_inventory(rp2)["MEMORY_MB"]["total"])
        self.assertEqual(12, self._get_provider_inventory(rp1)["VCPU"]["total"])

        hypervisors = self.admin_api.api_get(
            "/os-hypervisors/detail").body["hypervisors"]
        self.assertEqual({sf.host_uuid(self.host1), sf.host_uuid(host2)},
                         {h["id"] for h in hypervisors})
        self.assertEqual({"bhyve"}, {h["hypervisor_type"] for h in hypervisors})

        # each compute drives its own host: a server forced onto compute2
        # lands on host2 only, and takes host2's placement inventory
        image_id = self._register_image("zone")
        flavor_id = self._flavor("zone")
        server = self._create_server(image_uuid=image_id, flavor_id=flavor_id,
                                     networks="none", host="compute2")
        self.assertEqual("compute2", server["OS-EXT-SRV-ATTR:host"])
        self.assertEqual({server["id"]: "running"}, sf.vmadm_list(host2))
        self.assertEqual({}, sf.vmadm_list(self.host1))
        self.assertEqual(1, self._get_provider_usages(rp2)["VCPU"])
        self.assertEqual(0, self._get_provider_usages(rp1).get("VCPU", 0))
        self._delete_server(server)
        self.assertEqual({}, sf.vmadm_list(host2))


# -- failures ------------------------------------------------------------------------

class TestBootFailures(sf.SmartOSFunctionalBase):
    """A failed boot leaves the server in ERROR with the cause, and the host clean.

    ``[scheduler] max_attempts = 1``: with one compute a reschedule could only
    end in "No valid host", hiding the cause; without retries nova records
    the driver's own error as the fault.
    """

    def setUp(self):
        self.flags(max_attempts=1, group="scheduler")
        super().setUp()
        self.image_id = self._register_image("zone")
        self.flavor_id = self._flavor("zone")

    def _boot_fails(self, *expected_in_fault):
        server = self._boot(self.image_id, self.flavor_id, expected_state="ERROR")
        fault = self._fault(server)
        for text in expected_in_fault:
            self.assertIn(text, fault)
        sf.clear_faults(self.host1)
        self._assert_host_clean_of(self.host1, server["id"])
        self.assertEqual({}, sf.vmadm_list(self.host1))
        self._assert_nothing_staged()
        return server

    def _boot_works(self):
        server = self._boot(self.image_id, self.flavor_id)
        self.assertEqual({server["id"]: "running"}, sf.vmadm_list(self.host1))
        return server

    def test_image_import_fails_then_next_boot_works(self):
        datasets_before = sf.zfs_list(self.host1, types="all")
        sf.add_fault(self.host1, "imgadm install", "fail",
                     stderr="imgadm: injected install failure")
        server = self._boot_fails("injected install failure")
        self.assertEqual([], sf.imgadm_list(self.host1))
        # no half-received image dataset either
        self.assertEqual(datasets_before, sf.zfs_list(self.host1, types="all"))
        self._delete_server(server)
        ok = self._boot_works()
        self._delete_server(ok)

    def test_disk_image_import_fails_in_scratch_vm(self):
        """A bhyve disk image is imported through a scratch VM (images.py); a
        create that fails after making it must not leave the scratch VM, its
        zvol or staged files behind, and the next boot must work."""
        image_id = self._register_image("bhyve")
        flavor_id = self._flavor("bhyve")
        datasets_before = sf.zfs_list(self.host1, types="all")
        sf.add_fault(self.host1, "vmadm create", "fail_after", times=1,
                     stderr="vmadm: injected failure after create")
        server = self._boot(image_id, flavor_id, expected_state="ERROR")
        self.assertIn("injected failure after create", self._fault(server))
        self.assertEqual({}, sf.vmadm_list(self.host1))
        self.assertEqual(datasets_before, sf.zfs_list(self.host1, types="all"))
        self.assertEqual([], sf.imgadm_list(self.host1))
        self._assert_nothing_staged()
        self._delete_server(server)
        server = self._boot(image_id, flavor_id)
        self.assertEqual({server["id"]: "running"}, sf.vmadm_list(self.host1))
        self._delete_server(server)
        self._assert_nothing_staged()

    def test_vmadm_create_fails(self):
        sf.add_fault(self.host1, "vmadm create", "fail",
                     stderr="vmadm: injected create failure")
        server = self._boot_fails("injected create failure")
        self._delete_server(server)
        self._delete_server(self._boot_works())

    def test_vmadm_create_fails_after_creating(self):
        """vmadm reports failure but the VM exists: the driver must remove it."""
        sf.add_fault(self.host1, "vmadm create", "fail_after",
                     stderr="vmadm: injected failure after create")
        server = self._boot_fails("injected failure after create")
        self._delete_server(server)
        self._delete_server(self._boot_works())

    def test_vmadm_start_fails(self):
        """The driver boots with autoboot, so a failing ``vmadm start`` only
        matters for power-on: the server stays SHUTOFF, the action records the
        error, and the VM stays (stopped) on the host."""
        server = self._boot_works()
        server = self._stop_server(server)
        sf.add_fault(self.host1, "vmadm start", "fail",
                     stderr="vmadm: injected start failure")
        self.api.post_server_action(server["id"], {"os-start": None})
        event = self._wait_for_action_fail_completion(
            server, "start", "compute_start_instance")
        # microversion >= 2.84: the event's details carry the error message
        self.assertIn("injected start failure", event.get("details") or "", event)
        server = self._wait_for_state_change(server, "SHUTOFF")
        self.assertEqual("stopped", sf.vmadm_get(self.host1, server["id"])["state"])
        sf.clear_faults(self.host1)
        server = self._start_server(server)
        self.assertEqual("running", sf.vmadm_get(self.host1, server["id"])["state"])
        self._delete_server(server)
        self.assertEqual({}, sf.vmadm_list(self.host1))

    def test_boot_with_vmadm_start_failing(self):
        """Boot must not depend on a separate ``vmadm start`` (autoboot)."""
        sf.add_fault(self.host1, "vmadm start", "fail",
                     stderr="vmadm: injected start failure")
        server = self.api.post_server({"server": self._build_server(
            image_uuid=self.image_id, flavor_id=self.flavor_id, networks="none")})
        self._final_status(server)
        server = self.api.get_server(server["id"])
        if server["status"] == "ERROR":
            # a driver that starts separately must say why and clean up
            self.assertIn("injected start failure", self._fault(server))
            sf.clear_faults(self.host1)
            self._assert_host_clean_of(self.host1, server["id"])
        else:
            self.assertEqual("running", sf.vmadm_get(self.host1, server["id"])["state"])
            sf.clear_faults(self.host1)
        self._delete_server(server)

    def _final_status(self, server, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.api.get_server(server["id"])["status"]
            if status in ("ACTIVE", "ERROR"):
                return status
            time.sleep(0.1)
        self.fail(f"server {server['id']} stuck in {status}")


# -- changes made behind nova's back, compute restarts ----------------------------

class TestOutOfBand(sf.SmartOSFunctionalBase):
    SMARTOS_FLAGS = {"state_poll_interval": 1}

    def setUp(self):
        super().setUp()
        self.server = self._boot(self._register_image("zone"), self._flavor("zone"))

    def test_vm_stopped_on_the_host_becomes_shutoff(self):
        """The driver's state poller reports the stop; nova syncs the server."""
        sf.run(self.host1, "vmadm", "stop", self.server["id"], "-F")
        server = self._wait_for_state_change(self.server, "SHUTOFF", max_retries=30)
        self.assertEqual("stopped", sf.vmadm_get(self.host1, server["id"])["state"])
        server = self._start_server(server)
        self.assertEqual("running", sf.vmadm_get(self.host1, server["id"])["state"])

    def test_vm_deleted_on_the_host_then_deleted_in_nova(self):
        sf.run(self.host1, "vmadm", "delete", self.server["id"])
        self._delete_server(self.server)
        self.assertEqual({}, sf.vmadm_list(self.host1))

    def test_compute_restart_keeps_the_vm(self):
        self.compute1 = self.restart_compute_service(self.compute1)
        self.smartos_computes["compute1"] = self.compute1
        server = self._wait_for_state_change(self.server, "ACTIVE")
        self.assertEqual({server["id"]: "running"}, sf.vmadm_list(self.host1))
        self.assertEqual([server["id"]], self._driver().list_instance_uuids())
        server = self._reboot_server(server, hard=True)
        self._delete_server(server)
        self.assertEqual({}, sf.vmadm_list(self.host1))


class TestNodeIdentityAcrossRestarts(sf.SmartOSFunctionalBase):
    """Production node identity, unstubbed: nova-compute 34 refuses to start
    again unless ``<state_path>/compute_id`` exists once the service record
    is new enough (ComputeManager._ensure_existing_node_identity). A driver
    that returns its own node ``uuid`` (here the host's sysinfo UUID) is the
    only one who can write that file; nova's resource tracker writes it only
    when the driver returns no uuid."""

    STUB_COMPUTE_ID = False

    def setUp(self):
        import nova.virt.node
        state = self.useFixture(sf.fixtures.TempDir()).path
        self.flags(state_path=state)
        nova.virt.node.LOCAL_NODE_UUID = None
        self.addCleanup(setattr, nova.virt.node, "LOCAL_NODE_UUID", None)
        super().setUp()
        self.state_path = state

    def test_compute_restarts_with_the_same_identity(self):
        import os
        compute_id = os.path.join(self.state_path, "compute_id")
        host_uuid = sf.host_uuid(self.host1)
        self.assertEqual(host_uuid, self._get_provider_uuid_by_host("compute1"))
        try:
            self.compute1 = self.restart_compute_service(self.compute1)
        except Exception as exc:
            self.fail(f"nova-compute does not start a second time: {exc!r}; "
                      f"<state_path>/compute_id exists: {os.path.exists(compute_id)}")
        self.assertEqual(host_uuid, self._get_provider_uuid_by_host("compute1"))
        with open(compute_id) as handle:
            self.assertEqual(host_uuid, handle.read().strip())


# -- over ssh -----------------------------------------------------------------------

class TestLifecycleOverSSH(sf.SmartOSFunctionalBase):
    """The same driver against a host served by a real sshd (smartos-sim serve)."""

    START_COMPUTE = False

    def setUp(self):
        if not sf.HAVE_SSHD:
            self.skipTest("/usr/sbin/sshd is missing")
        super().setUp()
        self.compute1 = self._start_smartos_compute("compute1", serve_ssh=True)
        self.host1 = self.sim_hosts["compute1"]

    def test_lifecycle_over_ssh(self):
        host = self.host1
        self.assertTrue(self.served_hosts["compute1"].uri.startswith("ssh://"))
        image_id = self._register_image("zone")
        flavor_id = self._flavor("zone")
        server = self._boot(image_id, flavor_id)
        self.assertEqual({server["id"]: "running"}, sf.vmadm_list(host))
        server = self._reboot_server(server, hard=True)
        server = self._stop_server(server)
        self.assertEqual("stopped", sf.vmadm_get(host, server["id"])["state"])
        server = self._start_server(server)
        self.assertEqual("running", sf.vmadm_get(host, server["id"])["state"])
        # The console log is read with tail over the same ssh connection.
        output = self._console_output(server["id"])
        hostname = sf.vmadm_get(host, server["id"])["hostname"]
        self.assertEqual(3, output.count(f"{hostname} console login:"))
        self._delete_server(server)
        self.assertEqual({}, sf.vmadm_list(host))
        self.assertEqual([], sf.datasets_of(host, server["id"]))
        log = (host.root / "sshd" / "sshd.log").read_text(errors="replace")
        self.assertIn("Accepted publickey", log)
