"""The emulated host's state, shared by the emulated commands: ZFS, VMs, images, firewall rules, the network."""
