"""A TCP proxy on loopback between keygate and PostgreSQL that can fail on
command, in a thread of its own (its own event loop), so that nothing the
part does in the meantime can stall it.

Modes:
- `pass`: bytes flow both ways.
- `refuse`: the listener is closed (a new connection gets ECONNREFUSED) and
  every open connection is reset (RST to keygate, closed towards
  PostgreSQL): the database is down and says so.
- `drop`: a silent partition. New connections are accepted but not
  forwarded, and open connections stop carrying bytes in either direction,
  with no FIN and no RST: whatever keygate sends is held, nothing comes
  back. When the mode returns to `pass`, the held bytes are delivered, as
  TCP retransmission would after a real partition heals. The proxy's
  kernel still acknowledges at the TCP level (like a database host whose
  PostgreSQL hangs), so only timeouts of keygate's own can end a wait:
  keepalive or TCP_USER_TIMEOUT alone do not help here.
"""

import asyncio
import socket
import struct
import threading


class Proxy:
    def __init__(self, target_host="127.0.0.1", target_port=5432, listen_port=0):
        self.target = (target_host, target_port)
        self.listen_port = listen_port
        self.mode = "pass"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="pgproxy", daemon=True)
        self.server = None
        self.gate = None
        self.conns = set()
        self.accepted = 0

    # Public, thread-safe -------------------------------------------------

    def start(self):
        self.thread.start()
        self._call(self._start())
        return self.listen_port

    def set_mode(self, mode):
        assert mode in ("pass", "refuse", "drop"), mode
        self._call(self._set_mode(mode))

    def stop(self):
        if self.thread.is_alive():
            self._call(self._shutdown())
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)

    def open_connections(self):
        return len(self.conns)

    # Inside the proxy's loop -----------------------------------------------

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    async def _start(self):
        self.gate = asyncio.Event()
        self.gate.set()
        await self._listen()

    async def _listen(self):
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", self.listen_port,
                                                 reuse_address=True)
        self.listen_port = self.server.sockets[0].getsockname()[1]

    async def _set_mode(self, mode):
        old, self.mode = self.mode, mode
        if mode == "pass":
            if self.server is None:
                await self._listen()
            self.gate.set()
        elif mode == "drop":
            self.gate.clear()
            if self.server is None:
                await self._listen()
        elif mode == "refuse":
            self.gate.set()
            if self.server is not None:
                self.server.close()
                self.server = None
            for conn in list(self.conns):
                conn.reset()
        return old

    async def _shutdown(self):
        if self.server is not None:
            self.server.close()
            self.server = None
        for conn in list(self.conns):
            conn.reset()

    async def _accept(self, reader, writer):
        self.accepted += 1
        if self.mode == "refuse":  # accepted just before the listener closed
            _Conn.rst(writer)
            return
        conn = _Conn(self, reader, writer)
        self.conns.add(conn)
        try:
            await conn.run()
        finally:
            self.conns.discard(conn)


class _Conn:
    def __init__(self, proxy, reader, writer):
        self.proxy = proxy
        self.client = (reader, writer)
        self.upstream = None
        self.tasks = []

    @staticmethod
    def rst(writer):
        sock = writer.get_extra_info("socket")
        try:
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        writer.transport.abort()

    def reset(self):
        for task in self.tasks:
            task.cancel()
        self.rst(self.client[1])
        if self.upstream:
            self.upstream[1].transport.abort()

    async def run(self):
        gate = self.proxy.gate
        # In a partition the connection is not even set up upstream.
        await gate.wait()
        try:
            self.upstream = await asyncio.open_connection(*self.proxy.target)
        except OSError:
            self.rst(self.client[1])
            return
        self.tasks = [asyncio.ensure_future(self._pump(self.client[0], self.upstream[1])),
                      asyncio.ensure_future(self._pump(self.upstream[0], self.client[1]))]
        await asyncio.wait(self.tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in self.tasks:
            task.cancel()
        for w in (self.client[1], self.upstream[1]):
            w.close()

    async def _pump(self, reader, writer):
        gate = self.proxy.gate
        try:
            while True:
                await gate.wait()
                data = await reader.read(65536)
                if not data:
                    return
                # Bytes read just as a partition began are held, not lost.
                await gate.wait()
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            return
