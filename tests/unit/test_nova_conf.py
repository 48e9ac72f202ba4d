"""The [smartos] options reach oslo-config-generator through the
oslo.config.opts entry point declared in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_generator_writes_the_smartos_group(tmp_path):
    sample = tmp_path / "nova-smartos.conf.sample"
    generator = Path(sys.executable).with_name("oslo-config-generator")
    subprocess.run([str(generator), "--namespace", "openstack_smartos.nova",
                    "--output-file", str(sample)], check=True, capture_output=True)
    text = sample.read_text()
    assert "[smartos]" in text
    for option in ("host_uri", "ssh_known_hosts_file", "ssh_verify_host_key",
                   "physical_network_nic_tags", "deployment_marker",
                   "state_poll_interval"):
        assert f"#{option} =" in text, option
    assert "#ssh_verify_host_key = true" in text
