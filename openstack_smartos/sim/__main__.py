import sys

if len(sys.argv) > 3 and sys.argv[1] == "exec" and sys.argv[3] == "--":
    # The hot path of every shim and sshd session: skip argparse.
    from openstack_smartos.sim.tools import exec_main
    if len(sys.argv) < 5:
        sys.exit("smartos-sim exec: needs -- TOOL ARGS...")
    sys.exit(exec_main(sys.argv[2], sys.argv[4:]))

from openstack_smartos.sim.cli import main

sys.exit(main())
