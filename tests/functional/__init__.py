"""Functional tests of the SmartOS Nova driver through nova's real functional harness.

nova's rule: ``nova.monkey_patch.patch()`` must run before any other nova
import (nova/tests/functional/__init__.py does the same).

Concurrency mode: nova 34 selects it in ``monkey_patch.patch(backend)``:
the environment variable ``OS_NOVA_DISABLE_EVENTLET_PATCHING`` wins (true ->
native threading, false -> eventlet), then ``[DEFAULT] concurrency_backend``
from a --config-file, then the per-binary default passed as ``backend``. The
nova-compute 34 binary passes ``backend='threading'`` (nova/cmd/compute.py),
so we test the driver under native threads, as it runs in production.

``nova.tests.functional/__init__.py`` calls ``patch()`` with the *eventlet*
default as soon as integrated_helpers is imported; in threading mode that
second call would try to import the poisoned eventlet. Setting the
environment variable (unless the caller already set it) makes both calls
agree. Run with ``OS_NOVA_DISABLE_EVENTLET_PATCHING=0`` to test under eventlet.
"""

import os

os.environ.setdefault('OS_NOVA_DISABLE_EVENTLET_PATCHING', 'true')

# autopep8: off
from nova import monkey_patch; monkey_patch.patch(backend='threading')  # noqa: E402,E702
# autopep8: on
