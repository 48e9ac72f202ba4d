"""The all-in-one demo cloud: real Keystone, Glance, Placement and Nova on
emulated SmartOS hosts, started by ``openstack-smartos demo``.

Layout (embedded defaults: SQLite and in-process messaging)::

    supervisor (openstack-smartos demo)   emulated hosts served by sshd,
                                          database setup, catalog, images,
                                          flavors, clouds.yaml
    process "keystone"                    Keystone (fernet tokens)
    process "glance"                      glance-api (file store)
    process "nova"                        placement, nova-api, a network
                                          stand-in, nova-conductor,
                                          nova-scheduler and one nova-compute
                                          per host (SmartOSDriver over ssh://)

Keystone, Glance and Nova cannot share one interpreter: all three keep their
options on oslo.config's global ``CONF`` (and clash on ``[api]
response_validation``), and nova on native threads refuses eventlet, which
keystone's and glance's dependencies import. Placement takes its own
ConfigOpts, so it joins the nova process. ``fake:/`` messaging only works
inside one process, hence every nova service lives in the nova process.

Modules: ``settings`` (addresses, paths, credentials), ``configs`` (the
services' configuration files, pure), ``sqlite`` (SQLite under many
threads), ``services`` (the child processes), ``bootstrap`` (databases and
the keystone catalog), ``content`` (demo images and flavors), ``demo`` (the
supervisor and its commands).
"""
