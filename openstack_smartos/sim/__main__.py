import sys

from openstack_smartos.sim.cli import main

sys.exit(main())
