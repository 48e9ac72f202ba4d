"""nova loads the driver by name, through the nova.virt.smartos shim, from the
source tree and from the built wheel."""

from __future__ import annotations

import atexit
import json
import shutil
import os
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from pathlib import Path

from nova import test
from nova.virt import driver as virt_driver
from nova.virt import fake as fake_virt

from . import fixtures as smartos_fixtures

REPO = smartos_fixtures.REPO


class TestLoadFromSource(smartos_fixtures.PytestCompatMixin, test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        smartos_fixtures.register_smartos_opts()
        self.useFixture(smartos_fixtures.SmartOSShimFixture())

    def test_load_compute_driver_through_shim(self):
        self.flags(compute_driver=smartos_fixtures.DRIVER)
        drv = virt_driver.load_compute_driver(fake_virt.FakeVirtAPI())

        from openstack_smartos.nova.driver import SmartOSDriver
        self.assertIsInstance(drv, SmartOSDriver)
        self.assertIsInstance(drv, virt_driver.ComputeDriver)
        # nova imported the shim's own file, which re-exports the real class
        shim = sys.modules["nova.virt.smartos.driver"]
        self.assertEqual(str(REPO / "shim" / "nova" / "virt" / "smartos" / "driver.py"),
                         str(Path(shim.__file__).resolve()))
        self.assertIs(shim.SmartOSDriver, SmartOSDriver)

    def test_explicit_name(self):
        drv = virt_driver.load_compute_driver(fake_virt.FakeVirtAPI(),
                                              smartos_fixtures.DRIVER)
        self.assertEqual("SmartOSDriver", type(drv).__name__)

    def test_unknown_name_exits(self):
        # what nova does for a typo: log and sys.exit(1)
        self.assertRaises(SystemExit, virt_driver.load_compute_driver,
                          fake_virt.FakeVirtAPI(), "smartos.driver.NoSuchDriver")


_WHEEL = {}


def build_wheel() -> Path:
    """Build the project's wheel once per process (no isolation if possible)."""
    if "path" in _WHEEL:
        return _WHEEL["path"]
    out = Path(tempfile.mkdtemp(prefix="smartos-wheel-",
                               dir=smartos_fixtures.PROCESS_TMP))
    atexit.register(shutil.rmtree, str(out), True)
    base = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out)]
    attempts = [base + ["--no-build-isolation", str(REPO)], base + [str(REPO)]]
    errors = []
    for argv in attempts:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=600,
                                stdin=subprocess.DEVNULL)
        wheels = sorted(out.glob("openstack_smartos-*.whl"))
        if result.returncode == 0 and wheels:
            _WHEEL["path"] = wheels[-1]
            _WHEEL["isolated"] = "--no-build-isolation" not in argv
            return wheels[-1]
        errors.append(f"{' '.join(argv)} -> {result.returncode}\n{result.stderr[-2000:]}")
    raise AssertionError("could not build the wheel:\n" + "\n".join(errors))


class TestWheel(smartos_fixtures.PytestCompatMixin, test.NoDBTestCase):
    """The wheel ships the shim inside nova's namespace without owning nova."""

    def setUp(self):
        super().setUp()
        self.wheel = build_wheel()
        with zipfile.ZipFile(self.wheel) as archive:
            self.names = set(archive.namelist())

    def test_wheel_ships_the_shim_but_not_nova(self):
        self.assertIn("nova/virt/smartos/__init__.py", self.names)
        self.assertIn("nova/virt/smartos/driver.py", self.names)
        self.assertIn("openstack_smartos/nova/driver.py", self.names)
        self.assertIn("openstack_smartos/nova/conf.py", self.names)
        # owning these would overwrite (or, on uninstall, delete) nova's own files
        self.assertNotIn("nova/__init__.py", self.names)
        self.assertNotIn("nova/virt/__init__.py", self.names)
        stray = sorted(n for n in self.names
                       if n.startswith("nova/") and not n.startswith("nova/virt/smartos/"))
        self.assertEqual([], stray)
        # no tests, shim sources only
        self.assertEqual([], sorted(n for n in self.names if n.startswith("tests/")))

    def test_driver_loads_from_the_unpacked_wheel(self):
        """Simulate an install into nova's site-packages: the unpacked wheel's
        nova/virt joins nova.virt.__path__ and its openstack_smartos comes first
        on sys.path, in a fresh interpreter; nova's loader must find the driver
        there, and every entry point the wheel declares must import."""
        unpacked = Path(self.useFixture(
            smartos_fixtures.fixtures.TempDir()).path) / "site"
        with zipfile.ZipFile(self.wheel) as archive:
            archive.extractall(unpacked)
        entry_points = []
        for name in self.names:
            if name.endswith(".dist-info/entry_points.txt"):
                entry_points = _entry_points((unpacked / name).read_text())
        script = textwrap.dedent(f"""
            import json, os, sys, importlib
            os.environ.setdefault('OS_NOVA_DISABLE_EVENTLET_PATCHING', 'true')
            from nova import monkey_patch; monkey_patch.patch(backend='threading')
            site = {str(unpacked)!r}
            sys.path.insert(0, site)
            for name in [m for m in sys.modules if m == 'openstack_smartos'
                         or m.startswith('openstack_smartos.')]:
                del sys.modules[name]
            import nova.virt
            nova.virt.__path__.append(os.path.join(site, 'nova', 'virt'))
            from nova import config  # noqa: registers nova's options
            from nova.virt import driver, fake
            drv = driver.load_compute_driver(fake.FakeVirtAPI(),
                                             'smartos.driver.SmartOSDriver')
            eps = {{}}
            for group, name, target in {entry_points!r}:
                module, _, attr = target.partition(':')
                try:
                    obj = importlib.import_module(module)
                    for part in filter(None, attr.split('.')):
                        obj = getattr(obj, part)
                    eps[group + ':' + name] = 'ok'
                except Exception as exc:
                    eps[group + ':' + name] = repr(exc)
            print(json.dumps({{
                'class': type(drv).__module__ + '.' + type(drv).__name__,
                'is_compute_driver': isinstance(drv, driver.ComputeDriver),
                'shim_file': sys.modules['nova.virt.smartos.driver'].__file__,
                'driver_file': sys.modules['openstack_smartos.nova.driver'].__file__,
                'nova_file': sys.modules['nova'].__file__,
                'entry_points': eps,
            }}))
        """)
        env = dict(os.environ, OS_NOVA_DISABLE_EVENTLET_PATCHING="true")
        result = subprocess.run([sys.executable, "-c", script], capture_output=True,
                                text=True, timeout=120, cwd=str(unpacked), env=env,
                                stdin=subprocess.DEVNULL)
        self.assertEqual(0, result.returncode, result.stderr[-4000:])
        report = json.loads(result.stdout.strip().splitlines()[-1])
        self.assertEqual("openstack_smartos.nova.driver.SmartOSDriver", report["class"])
        self.assertTrue(report["is_compute_driver"])
        self.assertTrue(report["shim_file"].startswith(str(unpacked)), report)
        self.assertTrue(report["driver_file"].startswith(str(unpacked)), report)
        self.assertFalse(report["nova_file"].startswith(str(unpacked)), report)
        broken = {k: v for k, v in report["entry_points"].items() if v != "ok"}
        self.assertEqual({}, broken, "entry points declared by the wheel do not import")


def _entry_points(text):
    """[(group, name, target)] from an entry_points.txt."""
    found, group = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            group = line.strip("[]")
            continue
        name, _, target = line.partition("=")
        found.append((group, name.strip(), target.strip()))
    return found
