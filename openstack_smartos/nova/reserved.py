"""Host memory that placement's allocations do not account for (pure).

nova allocates each instance its flavor's memory. A SmartOS host gives
away more than that:

* an HVM's zone is capped at ``max_physical_memory``, which vmadm sets to
  ``ram`` plus the hypervisor's overhead (bhyve 1280 MiB, KVM 1024 MiB);
* VMs that this deployment did not create (an operator's own zones, another
  orchestrator's VMs) hold memory nova never allocated at all.

The driver reserves that memory in the MEMORY_MB inventory, on top of
``reserved_host_memory_mb``, so the scheduler stops where the host is really
full. It is recomputed at each periodic resource update.
"""

from __future__ import annotations

HVM_BRANDS = ("bhyve", "kvm")
LOOKUP_FIELDS = ("uuid", "brand", "ram", "max_physical_memory", "internal_metadata")


def is_ours(vm: dict, marker_key: str, marker: str) -> bool:
    return (vm.get("internal_metadata") or {}).get(marker_key) == marker


def memory_outside_allocations(vm: dict, marker_key: str, marker: str) -> int:
    """MiB of ``vm`` (a ``vmadm lookup -j`` object) no nova allocation covers."""
    cap = int(vm.get("max_physical_memory") or 0)
    if not is_ours(vm, marker_key, marker):
        return cap
    if vm.get("brand") in HVM_BRANDS:
        return max(0, cap - int(vm.get("ram") or 0))
    return 0


def reserved_memory_mb(vms, marker_key: str, marker: str, configured: int,
                       total: int) -> int:
    """The MEMORY_MB ``reserved`` value: configured plus what VMs hold outside
    allocations, at most the total (placement refuses more)."""
    extra = sum(memory_outside_allocations(vm, marker_key, marker) for vm in vms)
    return min(total, configured + extra)
