"""The ``[smartos]`` configuration group of nova-compute."""

from __future__ import annotations

from oslo_config import cfg

GROUP = cfg.OptGroup(
    "smartos", title="SmartOS driver options",
    help="How nova-compute reaches and drives its SmartOS host "
         "(compute_driver = smartos.driver.SmartOSDriver).")

OPTS = [
    cfg.StrOpt("host_uri", default="local://",
               help="The SmartOS host this nova-compute drives: local:// (nova-compute "
                    "runs in the global zone), ssh://user@host:port, or "
                    "sim:///path/to/hostdir (an emulated host, for development)."),
    cfg.StrOpt("ssh_key_file",
               help="Private key for ssh:// hosts (default: ssh-agent and ~/.ssh keys)."),
    cfg.StrOpt("ssh_known_hosts_file", default="~/.ssh/known_hosts",
               help="known_hosts file the ssh:// host key is verified against."),
    cfg.BoolOpt("ssh_verify_host_key", default=True,
                help="Verify the ssh:// host key. Turning this off exposes the "
                     "deployment to man-in-the-middle attacks."),
    cfg.StrOpt("zpool", default="zones", help="The zpool VMs and images live on."),
    cfg.DictOpt("physical_network_nic_tags", default={},
                help="Neutron physical network name to SmartOS nic tag, e.g. "
                     "physnet1:external,provider:admin."),
    cfg.StrOpt("default_nic_tag", default="external",
               help="Nic tag for ports whose network has no physical network "
                    "(or one missing from physical_network_nic_tags)."),
    cfg.StrOpt("default_zone_brand", default="joyent",
               choices=["joyent", "joyent-minimal"],
               help="Brand of OS containers booted from zone-dataset images."),
    cfg.StrOpt("default_hvm_brand", default="bhyve", choices=["bhyve", "kvm"],
               help="Brand of hardware VMs when the image does not name a hypervisor."),
    cfg.StrOpt("lx_kernel_version", default="4.3.0",
               help="kernel_version for LX zones whose image does not set one."),
    cfg.IntOpt("command_timeout", default=300, min=1,
               help="Seconds any host command may take (vmadm create has its own)."),
    cfg.IntOpt("create_timeout", default=900, min=1,
               help="Seconds vmadm create may take (it blocks until provisioned)."),
    cfg.IntOpt("image_transfer_timeout", default=3600, min=1,
               help="Seconds an image install may take."),
    cfg.IntOpt("power_off_timeout", default=60, min=0,
               help="Seconds a graceful stop may take before the VM is halted."),
    cfg.IntOpt("state_poll_interval", default=10, min=0,
               help="Seconds between the one-call polls (vmadm lookup) that report "
                    "power-state changes made outside nova; 0 disables them."),
    cfg.StrOpt("image_work_dir", default="$state_path/smartos-images",
               help="Local directory where Glance images are staged while they "
                    "are converted and sent to the host."),
    cfg.StrOpt("deployment_marker", default="openstack-nova",
               help="Written in internal_metadata['openstack:managed_by'] of every VM "
                    "this deployment creates; VMs without it are never touched."),
]


def register_opts(conf=None):
    conf = conf or cfg.CONF
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)
    return conf


def list_opts():
    """oslo-config-generator entry point (oslo.config.opts)."""
    return [(GROUP, OPTS)]
