"""Overlay records and rules without a data plane (dladm.c and libdladm's checks)."""

import pytest

from openstack_smartos.sim.state.network import overlays


@pytest.fixture
def host(sim_host):
    return sim_host()


def _create(host, name="sdc_overlay4000", encap="vxlan", search="files", vnet=4000, **props):
    props = {"vxlan/listen_ip": "127.0.0.1", "files/config": "/var/tmp/x.json", **props}
    with host.locked():
        return overlays.create(host, name, encap, search, vnet, props)


@pytest.mark.parametrize("name", ["stub00", "net", "0net1", "a" * 32 + "1"])
def test_link_names_must_end_in_a_number_without_leading_zeros(host, name):
    with pytest.raises(overlays.OverlayError):
        _create(host, name=name)


def test_arguments_are_checked_in_dladms_order(host):
    cases = [(("x1", None, None, None), "missing required virtual network id"),
             (("x1", None, None, 1), "missing required encapsulation plugin"),
             (("x1", "vxlan", None, 1), "missing required search plugin"),
             (("", "vxlan", "files", 1), "missing device name")]
    with host.locked():
        for (name, encap, search, vnet), text in cases:
            with pytest.raises(overlays.OverlayError) as info:
                overlays.create(host, name, encap, search, vnet, {})
            assert info.value.lines() == [f"dladm: {text}"]


def test_missing_required_properties_and_duplicates(host):
    with host.locked(), pytest.raises(overlays.OverlayError) as info:
        overlays.create(host, "sdc_overlay1", "vxlan", "svp", 1, {"vxlan/listen_ip": "127.0.0.1"})
    assert info.value.lines() == [
        "dladm: warning: failed to activate varpd instance: Resource temporarily unavailable",
        "dladm: warning: unset required property: svp/host",
        "dladm: warning: unset required property: svp/underlay_ip",
        "dladm: overlay creation failed: try again later"]
    _create(host)
    for kwargs in ({}, {"name": "other4000"}):
        with pytest.raises(overlays.OverlayError, match="object already exists"):
            _create(host, **kwargs)
    assert overlays.prop(overlays.get(host, "sdc_overlay4000"), "mtu") == "1400"


def test_overlay_tags_and_rules(host):
    assert overlays.parse_tag("sdc_overlay/4000") == ("sdc_overlay", 4000)
    assert overlays.parse_tag("sdc_overlay/4294967295") is None
    assert overlays.parse_tag("external") is None
    args = overlays.parse_rule_args("-e vxlan -s svp -p svp/host=10.0.0.1 "
                                    "-p svp/underlay_ip=10.0.0.5,vxlan/listen_ip=10.0.0.5")
    assert args == {"encap": "vxlan", "search": "svp", "props": {
        "svp/host": "10.0.0.1", "svp/underlay_ip": "10.0.0.5", "vxlan/listen_ip": "10.0.0.5"}}
    path = host.path("root", overlays.RULES_PATH)
    path.parent.mkdir(parents=True)
    path.write_text('{"sdc_overlay": "-e vxlan", "bad9": "-e vxlan", "x": 5}')
    assert overlays.rules(host) == {"sdc_overlay": "-e vxlan"}
