"""A small SVP server for tests: the mappings a portolan would hold, and its logs.

It answers VL2 and VL3 lookups from ``vms`` ((vnet, mac) -> ip, underlay)
and serves per-host invalidation logs (LOG_REQ / LOG_RM), so a test can move
a VM and watch the emulated varpd follow.
"""

from __future__ import annotations

import socket
import socketserver
import threading
import uuid

from openstack_smartos.sim.state.network import svp_protocol as svp


class SVPServer:
    def __init__(self, address="127.0.0.1"):
        self.vms = {}          # (vnet, mac) -> {"ip": overlay ip, "underlay": ip, "port": p}
        self.logs = {}         # underlay ip of a host -> [LogRecord]
        self.requests = []     # (op, detail) in arrival order
        self.lock = threading.Lock()
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                def read(size):
                    data = b""
                    while len(data) < size:
                        chunk = self.request.recv(size - len(data))
                        if not chunk:
                            raise ConnectionError
                        data += chunk
                    return data
                try:
                    while True:
                        message = svp.read_message(read)
                        op, payload = server.answer(message)
                        self.request.sendall(svp.encode(op, message.ident, payload))
                except (ConnectionError, OSError):
                    return

        class Threaded(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self._server = Threaded((address, 0), Handler)
        self.address, self.port = self._server.server_address
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self):
        self._server.shutdown()
        self._server.server_close()

    # -- what the cloud knows ---------------------------------------------------------
    def place(self, vnet, mac, ip, underlay, port=4789):
        with self.lock:
            self.vms[(vnet, mac)] = {"ip": ip, "underlay": underlay, "port": port}

    def move(self, vnet, mac, underlay, hosts):
        """The VM now lives behind ``underlay``: tell every host to forget it."""
        with self.lock:
            self.vms[(vnet, mac)]["underlay"] = underlay
            for host in hosts:
                self.logs.setdefault(host, []).append(
                    svp.LogRecord(svp.LOG_VL2, str(uuid.uuid4()), vnet, mac=mac))

    def count(self, op):
        return sum(1 for o, _ in self.requests if o == op)

    # -- the protocol ---------------------------------------------------------------
    def answer(self, message):
        with self.lock:
            op = message.op
            if op == svp.VL2_REQ:
                mac, vnet = svp.parse_vl2_req(message.payload)
                self.requests.append((op, mac))
                vm = self.vms.get((vnet, mac))
                if vm is None:
                    return svp.VL2_ACK, svp.vl2_ack(svp.NOTFOUND)
                return svp.VL2_ACK, svp.vl2_ack(svp.OK, vm["port"], vm["underlay"])
            if op == svp.VL3_REQ:
                ip, _kind, vnet = svp.parse_vl3_req(message.payload)
                self.requests.append((op, ip))
                for (v, mac), vm in self.vms.items():
                    if v == vnet and vm["ip"] == ip:
                        return svp.VL3_ACK, svp.vl3_ack(svp.OK, mac, vm["port"],
                                                        vm["underlay"])
                return svp.VL3_ACK, svp.vl3_ack(svp.NOTFOUND)
            if op == svp.LOG_REQ:
                budget, underlay = svp.parse_log_req(message.payload)
                self.requests.append((op, underlay))
                return svp.LOG_ACK, svp.log_ack(svp.OK, self.logs.get(underlay, []), budget)
            if op == svp.LOG_RM:
                ids = set(svp.parse_log_rm(message.payload))
                self.requests.append((op, len(ids)))
                for host, records in self.logs.items():
                    self.logs[host] = [r for r in records if r.ident not in ids]
                return svp.LOG_RM_ACK, svp.log_rm_ack(svp.OK)
            return svp.PONG, b""


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
