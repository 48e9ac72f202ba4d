"""Lets a stock nova load the SmartOS driver: compute_driver = smartos.driver.SmartOSDriver.

Shipped inside the nova.virt namespace by the openstack-smartos wheel; the
driver itself lives in openstack_smartos.nova.
"""
