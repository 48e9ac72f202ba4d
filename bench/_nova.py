"""Nova's functional harness (tests/functional/fixtures.py) driven from a script.

Import this module first: it selects native threading for nova (as
tests/functional/__init__.py does) before anything imports nova.

``run_case(case_class, body)`` instantiates a harness test case with one
test method, runs it through testtools (setUp, the method, cleanups, so
every fixture is torn down as in a test run) and returns what ``body(case)``
returned; an error in setUp or in ``body`` is raised here with the
harness's traceback.

Boots are timed with ``boot_until_active``: POST /servers, then GET the
server every ``POLL_SECONDS`` until it is ACTIVE. The harness's own
``_create_server`` waits with ``time.sleep(0.5)`` between polls, so its
times come in steps of 0.5 s; it is timed too (``helper_boot``), for
reference only.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("OS_NOVA_DISABLE_EVENTLET_PATCHING", "true")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402,F401  (puts the repo on sys.path)

from nova import monkey_patch  # noqa: E402

monkey_patch.patch(backend="threading")

import inspect  # noqa: E402

import testtools  # noqa: E402

from tests.functional import fixtures as sf  # noqa: E402

from openstack_smartos.nova import images as smartos_images  # noqa: E402

POLL_SECONDS = 0.005
FAKE_DRIVER = "fake.FakeDriver"


class _Case(sf.SmartOSFunctionalBase):
    """One harness test whose body is supplied by the benchmark.

    compute1 is the SmartOS compute (emulated host over sim://); when
    ``EXTRA_FAKE`` names a host, a nova-compute with nova's FakeDriver is
    started under that name in the same harness (same API, scheduler,
    placement and databases).
    """

    BODY = None
    EXTRA_FAKE = None

    def setUp(self):
        super().setUp()
        if self.EXTRA_FAKE:
            self.flags(compute_driver=FAKE_DRIVER)
            self.fake_compute = self._start_compute(self.EXTRA_FAKE)

    def test_bench(self):
        type(self).RESULT = type(self).BODY(self)


def case_class(name, extra_fake=None, host_kwargs=None, smartos_flags=None):
    return type(name, (_Case,), {"EXTRA_FAKE": extra_fake,
                                 "HOST_KWARGS": dict(host_kwargs or {}),
                                 "SMARTOS_FLAGS": dict(smartos_flags or {})})


def run_case(cls, body):
    cls.BODY = staticmethod(body)
    cls.RESULT = None
    case = cls("test_bench")
    result = testtools.TestResult()
    # nova's thread pools log their shutdown at INFO on stdout once the
    # harness's logging fixture is gone: keep stdout for the report.
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        case.run(result)
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
    problems = result.errors + result.failures
    if problems:
        _test, trace = problems[0]
        trace = "\n".join(str(trace).splitlines()[-40:])   # not the captured log
        raise RuntimeError(f"harness case {cls.__name__} failed:\n{trace}")
    return cls.RESULT


class SpawnTimer:
    """Wraps one compute's ``driver.spawn`` and records how long each call took."""

    def __init__(self, compute):
        self.driver = compute.manager.driver
        self.samples = []
        inner = self.driver.spawn

        def spawn(*args, **kwargs):
            started = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.samples.append(time.perf_counter() - started)
        self.driver.spawn = spawn

    def last(self):
        return self.samples[-1] if self.samples else None


# -- the Glance client the image cache uses ------------------------------------------

class GlanceShowAdapter:
    """``show``/``get``/``download`` over nova.image.glance.API.

    images.ImageCache calls ``glance.show(context, id)``, but nova's
    ``nova.image.glance.API`` has no ``show`` (it has ``get``): every image
    install through a real nova-compute fails with AttributeError. This
    adapter maps ``show`` to ``API.get``; it goes through the same API object
    and the harness's GlanceFixture, so the bytes are the same.
    """

    def __init__(self):
        from nova.image import glance
        self._api = glance.API()

    def show(self, context, image_id, **kwargs):
        return self._api.get(context, image_id)

    get = show

    def download(self, context, image_id, data=None, dst_path=None, trusted_certs=None):
        return self._api.download(context, image_id, data=data, dest_path=dst_path)


def image_cache_needs_adapter():
    from nova.image import glance
    source = inspect.getsource(smartos_images.ImageCache)
    return "self.glance.show(" in source and not hasattr(glance.API, "show")


def install_glance_adapter(case, compute="compute1"):
    """Give the compute's driver an ImageCache over GlanceShowAdapter if needed.

    Returns a note for the report, or None when the driver works as it is.
    """
    if not image_cache_needs_adapter():
        return None
    drv = case._driver(compute)
    drv._images = smartos_images.ImageCache(drv.host, sf.CONF.smartos,
                                            glance_api=GlanceShowAdapter())
    return ("images.ImageCache calls glance.show(), which nova.image.glance.API "
            "lacks (it has get()): the benchmark gave the driver an ImageCache "
            "whose Glance client maps show -> API.get")


# -- boots -----------------------------------------------------------------------------

def boot_until_active(case, image_id, flavor_id, host=None, timeout=3600.0):
    """POST a server (networks none; on ``host`` if given) and poll until ACTIVE.

    Returns (seconds, server).
    """
    body = case._build_server(image_uuid=image_id, flavor_id=flavor_id, networks="none",
                              host=host)
    api = case.admin_api if host else case.api
    started = time.perf_counter()
    server = api.post_server({"server": body})
    deadline = started + timeout
    while True:
        server = api.get_server(server["id"])
        if server["status"] == "ACTIVE":
            return time.perf_counter() - started, server
        if server["status"] == "ERROR":
            raise RuntimeError(f"server {server['id']} went to ERROR: {case._fault(server)}")
        if time.perf_counter() > deadline:
            raise RuntimeError(f"server {server['id']} not ACTIVE after {timeout}s")
        time.sleep(POLL_SECONDS)


def helper_boot(case, image_id, flavor_id, host=None):
    """The harness's own ``_create_server`` (0.5 s polling), timed."""
    started = time.perf_counter()
    server = case._create_server(image_uuid=image_id, flavor_id=flavor_id,
                                 networks="none", host=host)
    return time.perf_counter() - started, server


def delete_and_wait(case, server, timeout=120.0):
    from nova.tests.functional.api import client as api_client
    case.api.delete_server(server["id"])
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        try:
            state = case.api.get_server(server["id"])
        except api_client.OpenStackApiNotFoundException:
            return
        if state["status"] == "ERROR":
            raise RuntimeError(f"server {server['id']} went to ERROR while deleting")
        time.sleep(POLL_SECONDS * 4)
    raise RuntimeError(f"server {server['id']} not deleted after {timeout}s")
