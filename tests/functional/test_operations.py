"""More operations through the Nova API on emulated SmartOS hosts: VNC
consoles, image pre-caching, the image cache manager, host uptime, and
smartos:* extra spec validation at flavor creation."""

from __future__ import annotations

import json
import urllib.parse

from nova import conf as nova_conf
from nova import context as nova_context
from nova.tests.functional.api import client as api_client

from tests.functional import fixtures as sf

CONF = nova_conf.CONF


class TestConsoles(sf.SmartOSFunctionalBase):

    def _console(self, server_id):
        return self.api.api_post(
            f"/servers/{server_id}/remote-consoles",
            {"remote_console": {"protocol": "vnc", "type": "novnc"}},
            check_response_status=False)

    def test_vnc_console_of_bhyve_vm(self):
        """get_vnc_console: vmadm info <uuid> vnc on a running bhyve VM."""
        self._check_vnc("bhyve")

    def test_vnc_console_of_kvm_vm(self):
        """get_vnc_console: vmadm info <uuid> vnc on a running KVM VM."""
        self._check_vnc("kvm")

    def _check_vnc(self, kind):
        server = self._boot(self._register_image(kind), self._flavor(kind))
        response = self._console(server["id"])
        self.assertEqual(200, response.status, response.body)
        console = response.body["remote_console"]
        self.assertEqual("novnc", console["type"])
        token = urllib.parse.unquote(console["url"]).rsplit("token=", 1)[1]
        # The token leads to the VNC listener vmadm reports for the VM.
        auth = self.admin_api.api_get(f"/os-console-auth-tokens/{token}").body["console"]
        vnc = json.loads(sf.run(self.host1, "vmadm", "info", server["id"], "vnc")[1])["vnc"]
        self.assertEqual((vnc["host"], str(vnc["port"])), (auth["host"], str(auth["port"])))
        self.assertEqual(server["id"], auth["instance_uuid"])
        self._delete_server(server)

    def test_console_log_of_zone_follows_its_boots(self):
        """get_console_output: zoneadmd's console.log, read with tail -c."""
        server = self._boot(self._register_image("zone"), self._flavor("zone"))
        hostname = sf.vmadm_get(self.host1, server["id"])["hostname"]
        output = self._console_output(server["id"])
        self.assertIn(f"Hostname: {hostname}", output)
        self.assertEqual(1, output.count(f"{hostname} console login:"))
        server = self._reboot_server(server)
        output = self._console_output(server["id"])
        # Two boots with the shutdown between them, as the host's log has them.
        self.assertEqual(2, output.count(f"{hostname} console login:"))
        self.assertIn("svc.startd: The system is down.", output)
        path = f"/zones/{server['id']}/logs/console.log"
        logged = sf.run(self.host1, "tail", "-n", "+1", path)[1]
        printed = b"".join(json.loads(line)["msg"].encode("latin-1")
                           for line in logged.splitlines()
                           if json.loads(line)["stream"] == "console")
        # nova drops control characters (the \r of \r\n) from the output.
        self.assertEqual(printed.decode().replace("\r", ""), output)
        last = self._console_output(server["id"], length=1)
        self.assertEqual(output.split("\n")[-1], last)
        self._delete_server(server)

    def test_console_log_of_bhyve_vm_is_its_serial_port(self):
        self._check_login_prompt("bhyve")

    def test_console_log_of_lx_zone(self):
        self._check_login_prompt("lx")

    def _check_login_prompt(self, kind):
        server = self._boot(self._register_image(kind), self._flavor(kind))
        hostname = sf.vmadm_get(self.host1, server["id"])["hostname"]
        self.assertIn(f"{hostname} login:", self._console_output(server["id"]))
        self._delete_server(server)

    def test_kvm_console_log_is_not_available(self):
        """KVM's serial port is a socket nothing records: 404, the VM untouched."""
        server = self._boot(self._register_image("kvm"), self._flavor("kvm"))
        response = self._console_output(server["id"], expect_status=404)
        self.assertIn("console", response.body["itemNotFound"]["message"].lower())
        self.assertEqual("running", sf.vmadm_get(self.host1, server["id"])["state"])
        self._delete_server(server)

    def test_no_vnc_console_for_zones(self):
        """Zones have no VNC: the API answers 400, the zone is untouched."""
        server = self._boot(self._register_image("zone"), self._flavor("zone"))
        response = self._console(server["id"])
        self.assertEqual(400, response.status, response.body)
        self.assertEqual("running", sf.vmadm_get(self.host1, server["id"])["state"])
        self._delete_server(server)


class TestImageCache(sf.SmartOSFunctionalBase):

    def test_precache_then_boot_uses_the_cached_image(self):
        """cache_image through POST /os-aggregates/{id}/images (2.81)."""
        image_id = self._register_image("zone")
        aggregate = self.admin_api.post_aggregate(
            {"aggregate": {"name": "smartos-hosts"}})
        self.admin_api.add_host_to_aggregate(aggregate["id"], "compute1")
        self.admin_api.api_post(f"/os-aggregates/{aggregate['id']}/images",
                                {"cache": [{"id": image_id}]})
        self._wait_for(lambda: image_id in sf.imgadm_list(self.host1))
        driver = self._driver()
        driver.host.stats.reset()
        server = self._boot(image_id, self._flavor("zone"))
        # Booting a pre-cached image does not install it again.
        self.assertNotIn("imgadm install", driver.host.stats.snapshot()["by_command"])
        self._delete_server(server)

    def test_cache_manager_deletes_unused_images_only(self):
        """manage_image_cache: the image of a deleted server goes, the image
        of a live server and images this deployment did not install stay."""
        used = self._register_image("zone")
        unused = self._register_image("bhyve")
        keep = self._boot(used, self._flavor("zone"))
        gone = self._boot(unused, self._flavor("bhyve"))
        self._delete_server(gone)
        self.assertIn(unused, sf.imgadm_list(self.host1))
        manager = self.smartos_computes["compute1"].manager
        manager._run_image_cache_manager_pass(nova_context.get_admin_context())
        images = sf.imgadm_list(self.host1)
        self.assertIn(used, images)
        self.assertNotIn(unused, images)
        self.assertEqual([], [d for d in sf.zfs_list(self.host1) if unused in d[0]])
        self._delete_server(keep)

    def _wait_for(self, predicate, attempts=100):
        import time
        for _ in range(attempts):
            if predicate():
                return
            time.sleep(0.1)
        self.fail("condition not reached")


class TestHostFigures(sf.SmartOSFunctionalBase):

    def test_uptime(self):
        """get_host_uptime from the host's sysinfo Boot Time (GET
        /os-hypervisors/detail asks the compute at microversion >= 2.88)."""
        hypervisor = self.admin_api.api_get("/os-hypervisors/detail").body["hypervisors"][0]
        self.assertRegex(hypervisor["uptime"], r"^ \d\d:\d\d:\d\d up \d+ days?, +\d+:\d\d$")


class TestDiagnostics(sf.SmartOSFunctionalBase):

    def test_diagnostics_are_the_zones_kstats(self):
        """GET /servers/{id}/diagnostics (before 2.48): vmadm get + kstat of the zone."""
        server = self._boot(self._register_image("zone"), self._flavor("zone"))
        self.admin_api.microversion = "2.47"
        body = self.admin_api.api_get(f"/servers/{server['id']}/diagnostics").body
        vm = sf.vmadm_get(self.host1, server["id"])
        self.assertEqual("running", body["state"])
        self.assertEqual(vm["max_physical_memory"] * 1024, body["memory"])
        rss = sf.run(self.host1, "kstat", "-p", f"memory_cap:{vm['zoneid']}::rss")[1]
        # The emulated zone's rss moves with time: the same figure, a moment apart.
        self.assertAlmostEqual(int(rss.split()[-1]) // 1024, body["memory-rss"],
                               delta=body["memory-rss"] // 20)
        self.assertGreaterEqual(body["cpu_time"], 0)
        self.assertGreaterEqual(body["uptime"], 0)
        self._delete_server(server)

    def test_standardised_diagnostics_are_not_offered(self):
        """2.48 names the driver from nova's closed list of in-tree drivers: 501."""
        server = self._boot(self._register_image("zone"), self._flavor("zone"))
        self.admin_api.microversion = "2.48"
        response = self.admin_api.api_get(f"/servers/{server['id']}/diagnostics",
                                          check_response_status=False)
        self.assertEqual(501, response.status)
        self._delete_server(server)


class TestHostIP(sf.SmartOSFunctionalBase):
    HOST_KWARGS = {"admin_ip": "127.0.0.77"}

    def test_host_ip_is_the_hosts_admin_ip(self):
        """get_host_ip_addr: sysinfo's Admin IP of the SmartOS host, not the
        compute service's my_ip (nova records it as a migration's dest_host)."""
        self.assertNotEqual("127.0.0.77", CONF.my_ip)
        self.assertEqual("127.0.0.77", self._driver().get_host_ip_addr())
        sysinfo = json.loads(sf.run(self.host1, "sysinfo")[1])
        self.assertEqual(sysinfo["Admin IP"], self._driver().get_host_ip_addr())


class TestMemoryReservation(sf.SmartOSFunctionalBase):
    """MEMORY_MB reserved = configured + HVM overhead + foreign VMs' caps."""

    def _reserved(self):
        self.smartos_computes["compute1"].manager.update_available_resource(
            nova_context.get_admin_context())
        rp = self._get_provider_uuid_by_host("compute1")
        return self._get_provider_inventory(rp)["MEMORY_MB"]["reserved"]

    def test_hvm_overhead_and_foreign_vms_are_reserved(self):
        configured = self._reserved()
        self.assertEqual(CONF.reserved_host_memory_mb, configured)
        image_id = self._register_image("bhyve")
        server = self._boot(image_id, self._flavor("bhyve"))
        vm = sf.vmadm_get(self.host1, server["id"])
        overhead = vm["max_physical_memory"] - vm["ram"]
        self.assertEqual(1280, overhead)            # vmadm's bhyve overhead
        self.assertEqual(configured + overhead, self._reserved())

        # A VM this deployment did not create holds its whole cap.
        foreign = {"brand": "bhyve", "ram": 512, "vcpus": 1, "autoboot": False,
                   "disks": [{"image_uuid": image_id, "boot": True, "model": "virtio"}]}
        sf.run(self.host1, "vmadm", "create", stdin=json.dumps(foreign).encode())
        foreign_cap = [v for v in sf.vmadm_lookup(self.host1) if v["uuid"] != server["id"]][
            0]["max_physical_memory"]
        self.assertEqual(512 + 1280, foreign_cap)
        self.assertEqual(configured + overhead + foreign_cap, self._reserved())

        self._delete_server(server)
        self.assertEqual(configured + foreign_cap, self._reserved())


class TestHypervisorDetails(sf.SmartOSFunctionalBase):
    microversion = "2.28"       # from 2.28 to 2.87 the API parses cpu_info as JSON

    def test_cpu_info_from_sysinfo(self):
        hypervisor = self.admin_api.api_get("/os-hypervisors/detail").body["hypervisors"][0]
        cpu = hypervisor["cpu_info"]
        self.assertEqual("x86_64", cpu["arch"])
        self.assertEqual(self.host1.config["cpus"], hypervisor["vcpus"])
        self.assertEqual("vmx", cpu["features"][0])


class TestPeriodicTasks(sf.SmartOSFunctionalBase):
    """Periodic tasks cost a fixed number of host calls, whatever the VM count."""

    def test_no_per_vm_calls(self):
        image_id, flavor_id = self._register_image("zone"), self._flavor("zone")
        servers = [self._boot(image_id, flavor_id) for _ in range(3)]
        driver = self._driver()
        manager = self.smartos_computes["compute1"].manager
        ctx = nova_context.get_admin_context()

        driver.host.stats.reset()
        manager.update_available_resource(ctx)
        self.assertEqual({"sysinfo -f": 1, "vmadm lookup": 1},
                         driver.host.stats.snapshot()["by_command"])

        driver._states_at = 0.0            # the state cache is stale
        driver.host.stats.reset()
        manager._sync_power_states(ctx)
        self.assertEqual({"vmadm lookup": 1}, driver.host.stats.snapshot()["by_command"])
        for server in servers:
            self._delete_server(server)


class TestExtraSpecValidation(sf.SmartOSFunctionalBase):

    def test_bad_smartos_extra_spec_is_refused(self):
        """The smartos:* validators (nova.api.extra_spec_validators) refuse
        a bad value when the flavor's extra spec is set."""
        flavor_id = self._create_flavor(memory_mb=512, vcpu=1, disk=5)
        for key, value in (("smartos:cpu_cap", "lots"), ("smartos:brand", "kvm"),
                           ("smartos:cpu_shares", "70000"), ("smartos:nonsense", "1")):
            error = self.assertRaises(
                api_client.OpenStackApiException, self.admin_api.post_extra_spec,
                flavor_id, {"extra_specs": {key: value}})
            self.assertEqual(400, error.response.status_code, key)
        self.admin_api.post_extra_spec(flavor_id, {"extra_specs": {"smartos:cpu_cap": "250"}})
