"""The Nova virt driver for SmartOS hosts (``compute_driver = smartos.driver.SmartOSDriver``).

Imports only ``openstack_smartos.host`` and nova; never the emulator.
"""
