"""The demo cloud's pure parts: settings, configuration files, content, stand-in."""

from __future__ import annotations

import configparser
import io
import json

import pytest

from openstack_smartos.aio import configs, content, demo, services
from openstack_smartos.aio.settings import DemoSettings, default_state_dir


def parsed(sections) -> dict:
    # DEFAULT as a plain section, as oslo.config reads it (not merged into others).
    parser = configparser.ConfigParser(interpolation=None, default_section="-")
    parser.optionxform = str
    parser.read_string(configs.render(sections))
    return {name: dict(parser[name]) for name in parser.sections()}


@pytest.fixture
def settings(tmp_path):
    return DemoSettings(tmp_path / "state", address="127.0.0.9", hosts=3)


def test_render_round_trips_through_an_ini_parser(settings):
    builds = [configs.keystone, configs.glance, configs.placement, configs.nova,
              configs.nova_db, lambda s: configs.nova_compute(s, 2)]
    for build in builds:
        sections = build(settings)
        expected = {name: {k: str(v) for k, v in opts.items()}
                    for name, opts in sections.items()}
        assert parsed(sections) == expected


def test_embedded_nova_uses_sqlite_fake_messaging_and_the_smartos_driver(settings):
    nova = configs.nova(settings)
    assert nova["DEFAULT"]["compute_driver"] == "smartos.driver.SmartOSDriver"
    assert nova["DEFAULT"]["transport_url"] == "fake:/"
    assert "database" not in nova and "api_database" not in nova   # computes: conductor
    databases = configs.nova_db(settings)
    assert databases["database"]["connection"] == \
        f"sqlite:///{settings.state_dir}/db/nova.sqlite"
    assert databases["api_database"]["connection"].endswith("/db/nova_api.sqlite")
    assert nova["smartos"]["ssh_key_file"] == str(settings.state_dir / "ssh" / "id_ed25519")
    assert nova["placement"]["auth_url"] == "http://127.0.0.9:5000/v3"
    assert settings.embedded


def test_external_database_and_messaging(settings):
    settings.database_url = "mysql+pymysql://root@127.0.0.1/"
    settings.transport_url = "rabbit://guest:guest@127.0.0.1:5672/"
    assert configs.nova_db(settings)["database"]["connection"] == \
        "mysql+pymysql://root@127.0.0.1/smartos_demo_nova"
    assert configs.nova(settings)["DEFAULT"]["transport_url"] == \
        "rabbit://guest:guest@127.0.0.1:5672/"
    assert configs.keystone(settings)["database"]["connection"].endswith(
        "/smartos_demo_keystone")
    assert not settings.embedded


def test_each_compute_has_its_own_identity_and_host(settings):
    compute = configs.nova_compute(settings, 3)
    assert compute["DEFAULT"]["host"] == "smartos-3"
    assert compute["DEFAULT"]["state_path"].endswith("/nova/computes/smartos-3")
    assert compute["smartos"]["host_uri"].endswith("@127.0.0.9:2203")
    assert compute["smartos"]["host_uri"].startswith("ssh://")


def test_settings_survive_a_restart(settings):
    settings.save()
    again = DemoSettings.load(settings.state_dir)
    assert (again.address, again.hosts, again.state_dir) == \
        ("127.0.0.9", 3, settings.state_dir)
    assert again.ssh_port(3) == 2203 and again.host_name(3) == "smartos-3"


def test_default_state_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_state_dir() == tmp_path / "openstack-smartos" / "demo"


def test_bootstrap_registers_identity_endpoints_on_the_demo_address(settings):
    args = configs.bootstrap_args(settings)
    assert args[args.index("--bootstrap-public-url") + 1] == "http://127.0.0.9:5000/v3"


def test_raw_demo_disk_passes_glances_safety_checks(tmp_path):
    from oslo_utils.imageutils import format_inspector
    path = content.raw_disk_file(tmp_path)
    assert path.stat().st_size == content.RAW_DISK_MIB << 20
    inspector = format_inspector.detect_file_format(str(path))
    inspector.safety_check()          # raises SafetyCheckFailed as glance would see it


def test_every_flavor_extra_spec_passes_the_drivers_validators():
    from nova.api.validation.extra_specs import validators
    for _name, (_ram, _vcpus, _disk, specs) in content.FLAVORS.items():
        for key, value in specs.items():
            validators.validate(key, value)


def call(app, method, path):
    captured = {}

    def start_response(status, headers):
        captured["status"] = status

    body = b"".join(app({"REQUEST_METHOD": method, "PATH_INFO": path,
                         "wsgi.input": io.BytesIO()}, start_response))
    return captured["status"], json.loads(body)


def test_network_standin_answers_empty_collections_only():
    assert call(services.network_standin, "GET", "/v2.0/ports.json") == \
        ("200 OK", {"ports": []})
    assert call(services.network_standin, "GET", "/v2.0/") == ("200 OK", {"resources": []})
    assert call(services.network_standin, "GET", "/v2.0/security-groups") == \
        ("200 OK", {"security_groups": []})
    status, body = call(services.network_standin, "GET", "/v2.0/quotas/abc")
    assert status == "200 OK" and body["quota"]["port"] == -1
    status, body = call(services.network_standin, "POST", "/v2.0/ports")
    assert status == "404 Not Found" and "no networking" in body["NeutronError"]["message"]


def test_clouds_yaml_names_both_users(settings):
    import yaml
    settings.state_dir.mkdir(parents=True)
    clouds = yaml.safe_load(demo.write_clouds_yaml(settings).read_text())["clouds"]
    assert clouds["demo"]["auth"]["username"] == "demo"
    assert clouds["demo-admin"]["auth"]["project_name"] == "admin"
    assert clouds["demo"]["auth"]["auth_url"] == "http://127.0.0.9:5000/v3"


def test_tempest_flags_follow_what_the_driver_implements():
    from nova.virt import driver as nova_driver

    from openstack_smartos.aio import tempest
    from openstack_smartos.nova.driver import SmartOSDriver

    flags = tempest.feature_flags(SmartOSDriver)
    assert flags["console_output"] is True               # get_console_output
    assert flags["pause"] is False and flags["snapshot"] is False
    assert flags["vnc_console"] is False                 # no console proxy in the demo
    assert tempest.feature_flags(nova_driver.ComputeDriver)["console_output"] is False

    class Pausing(SmartOSDriver):
        def pause(self, instance):
            pass

        def unpause(self, instance):
            pass

    assert tempest.feature_flags(Pausing)["pause"] is True
