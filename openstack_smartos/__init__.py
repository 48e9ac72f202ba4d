"""SmartOS as an OpenStack hypervisor.

Layers (each may import only those to its left):
``host`` <- ``nova`` / ``neutron`` / ``cinder`` / ``ceilometer`` <- ``aio``.
``sim`` is a separate product: the emulator of a SmartOS host. Nothing outside
``sim`` (and the tests) imports it; the host layer reaches it only through the
commands it would run on real SmartOS.
"""
