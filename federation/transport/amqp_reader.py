"""A py-amqp connection for consumers that reads the socket in large chunks.

py-amqp reads every frame with two or three `recv` calls of exactly the bytes it needs (the
7-byte header, the payload, the end octet) and sets and restores the socket's timeout around
each frame: a delivered message (method, header and body frames) costs about nine system calls
and six `settimeout`s, a fifth of the consumer's reading time. Here the socket is read 64 KiB
at a time into a buffer that frames are cut from, and the timeout is only set when the buffer
runs dry and the socket has to be read. Frames, errors and timeouts behave as py-amqp's
(a frame cut by a timeout stays in the buffer and is completed by the next read).

Plain TCP only: a TLS connection keeps py-amqp's own transport.

Per delivery, two more things are made cheaper: a frame already in the buffer is taken
without the timeout's context manager (`_Connection.blocking_read`); and a body is never tried
as text: py-amqp decodes every body with its content encoding ("binary" here, so it raised and
caught a LookupError per message), while the consumer wants the bytes as sent anyway (they are
what the signature covers).
"""

from __future__ import annotations

import errno
import socket
from struct import unpack_from
from typing import Any

from amqp.exceptions import UnexpectedFrame
from amqp.transport import TCPTransport
from kombu.transport import pyamqp

CHUNK = 65536
FRAME_END = 206
_UNAVAIL = frozenset({errno.EAGAIN, errno.EINTR, errno.ENOENT, errno.EWOULDBLOCK})
_UNSET: Any = object()


class _Timeout:
    """`having_timeout(t)` without touching the socket unless it is read (see `_fill`)."""

    __slots__ = ("transport",)

    def __init__(self, transport: BufferedTCPTransport) -> None:
        self.transport = transport

    def __enter__(self) -> socket.socket | None:
        return self.transport.sock

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        transport = self.transport
        transport._wanted = _UNSET
        restore, transport._restore = transport._restore, _UNSET
        if restore is not _UNSET and transport.sock is not None:
            transport.sock.settimeout(restore)
        if isinstance(exc, OSError) and not isinstance(exc, TimeoutError) and (
                exc.errno == errno.EWOULDBLOCK):
            raise TimeoutError() from exc
        return False


class BufferedTCPTransport(TCPTransport):
    def _setup_transport(self) -> None:
        super()._setup_transport()
        self._buffer = bytearray()
        self._position = 0
        self._wanted = _UNSET
        self._restore = _UNSET
        self._timeout = _Timeout(self)

    def having_timeout(self, timeout: float | None) -> Any:
        self._wanted = _UNSET if timeout is None else timeout
        return self._timeout

    def _fill(self, need: int) -> None:
        """Have at least `need` unread bytes in the buffer."""
        buffer = self._buffer
        while len(buffer) - self._position < need:
            if self._position:
                del buffer[:self._position]
                self._position = 0
            if self._wanted is not _UNSET and self._restore is _UNSET:
                previous = self.sock.gettimeout()
                if previous != self._wanted:
                    self.sock.settimeout(self._wanted)
                    self._restore = previous
            try:
                chunk = self._quick_recv(max(CHUNK, need - len(buffer)))
            except BlockingIOError:  # a non-blocking read (timeout 0) found nothing more
                raise TimeoutError() from None
            if not chunk:
                raise OSError("Server unexpectedly closed connection")
            buffer += chunk

    def _read(self, n: int, initial: bool = False) -> bytes:
        """py-amqp reads the connection's first bytes with this (and nothing else does)."""
        self._fill(n)
        start = self._position
        self._position = start + n
        return bytes(self._buffer[start:start + n])

    def buffered_frame(self) -> tuple[int, int, bytes] | None:
        """The next frame if it is whole in the buffer (no socket access), else None."""
        buffer, position = self._buffer, self._position
        if len(buffer) - position < 8:
            return None
        frame_type, channel, size = unpack_from(">BHI", buffer, position)
        end = position + 7 + size
        if len(buffer) <= end:
            return None
        if buffer[end] != FRAME_END:
            raise UnexpectedFrame(f"Received frame_end {buffer[end]:#04x} while expecting 0xce")
        self._position = end + 1
        return frame_type, channel, bytes(buffer[position + 7:end])

    def read_frame(self, unpack: Any = None) -> tuple[int, int, bytes]:
        try:
            self._fill(7)
            frame_type, channel, size = unpack_from(">BHI", self._buffer, self._position)
            self._fill(8 + size)
        except TimeoutError:
            raise  # what was read stays in the buffer
        except OSError as exc:
            if exc.errno not in _UNAVAIL:
                self.connected = False
            raise
        start = self._position + 7
        payload = bytes(self._buffer[start:start + size])
        frame_end = self._buffer[start + size]
        self._position = start + size + 1
        if frame_end != FRAME_END:
            raise UnexpectedFrame(f"Received frame_end {frame_end:#04x} while expecting 0xce")
        return frame_type, channel, payload


class _Channel(pyamqp.Channel):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.auto_decode = False  # bodies stay the bytes that were sent


class _Connection(pyamqp.Connection):  # type: ignore[misc]
    Channel = _Channel

    def blocking_read(self, timeout: float | None = None) -> Any:
        """py-amqp's, but a frame already buffered is taken without setting a timeout."""
        transport = self.transport
        frame = transport.buffered_frame() if isinstance(transport, BufferedTCPTransport) else (
            None)
        if frame is None:
            with transport.having_timeout(timeout):
                frame = transport.read_frame()
        return self.on_inbound_frame(frame)

    def Transport(self, host: str, connect_timeout: float | None, ssl: Any = False,
                  read_timeout: float | None = None, write_timeout: float | None = None,
                  socket_settings: Any = None, **kwargs: Any) -> Any:
        if ssl:
            return super().Transport(host, connect_timeout, ssl=ssl, read_timeout=read_timeout,
                                     write_timeout=write_timeout,
                                     socket_settings=socket_settings, **kwargs)
        return BufferedTCPTransport(host, connect_timeout=connect_timeout,
                                    read_timeout=read_timeout, write_timeout=write_timeout,
                                    socket_settings=socket_settings, **kwargs)


class Transport(pyamqp.Transport):  # type: ignore[misc]
    """kombu's py-amqp transport with the buffered reader (consumers' connections)."""

    Connection = _Connection
