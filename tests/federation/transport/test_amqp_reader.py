"""The consumers' buffered AMQP frame reader (federation/transport/amqp_reader.py), on a socket
pair: frames cut anywhere, timeouts in the middle of a frame, the peer going away; and the
delivery fast path's argument decoding against py-amqp's. (Deliveries through a real broker,
with that fast path, are in tests/federation/delivery.)"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import pytest
from amqp.exceptions import UnexpectedFrame

from federation.transport.amqp_reader import (
    CHUNK,
    BufferedTCPTransport,
)


def frame(kind: int, channel: int, payload: bytes, end: int = 0xCE) -> bytes:
    return struct.pack(">BHI", kind, channel, len(payload)) + payload + bytes([end])


@pytest.fixture
def pair() -> Iterator[tuple[BufferedTCPTransport, socket.socket]]:
    ours, theirs = socket.socketpair()
    transport = BufferedTCPTransport("127.0.0.1:5672")
    transport.sock = ours
    transport.connected = True
    transport._setup_transport()
    yield transport, theirs
    ours.close()
    theirs.close()


def read(transport: BufferedTCPTransport, timeout: float | None = 1.0) -> tuple[int, int, bytes]:
    with transport.having_timeout(timeout):
        return transport.read_frame()


def test_frames_come_out_whole_however_the_bytes_arrive(pair) -> None:
    transport, peer = pair
    frames = [frame(1, 1, b"method"), frame(2, 1, b"h" * 40), frame(3, 1, b"b" * (CHUNK + 500)),
              frame(8, 0, b"")]
    peer.sendall(b"".join(frames[:2]) + frames[2][:3])  # two frames and a cut header

    assert read(transport) == (1, 1, b"method")
    assert read(transport) == (2, 1, b"h" * 40)
    peer.sendall(frames[2][3:] + frames[3])
    assert read(transport) == (3, 1, b"b" * (CHUNK + 500))  # longer than one read
    assert read(transport) == (8, 0, b"")


def test_a_timeout_in_the_middle_of_a_frame_keeps_what_was_read(pair) -> None:
    transport, peer = pair
    whole = frame(3, 2, b"0123456789")
    peer.sendall(whole[:9])

    with pytest.raises(TimeoutError):
        read(transport, timeout=0.05)
    with pytest.raises(TimeoutError):
        read(transport, timeout=0)  # non-blocking: nothing new
    assert transport.sock.gettimeout() is None  # restored after each read
    peer.sendall(whole[9:])
    assert read(transport) == (3, 2, b"0123456789")


def test_a_bad_frame_end_and_a_closed_peer_are_errors(pair) -> None:
    transport, peer = pair
    peer.sendall(frame(1, 1, b"x", end=0x00))
    with pytest.raises(UnexpectedFrame):
        read(transport)
    peer.close()
    with pytest.raises(OSError, match="unexpectedly closed"):
        read(transport)
    assert transport.connected is False  # kombu then makes a new connection


def test_buffered_frames_are_taken_without_the_socket(pair) -> None:
    transport, peer = pair
    assert transport.buffered_frame() is None  # nothing read yet: the socket is not touched
    whole = frame(2, 1, b"h" * 40)
    peer.sendall(frame(1, 1, b"method") + whole[:20])
    assert read(transport) == (1, 1, b"method")  # one recv brought the next frame's start
    assert transport.buffered_frame() is None  # cut: left for read_frame to complete
    peer.sendall(whole[20:] + frame(3, 1, b"body") + frame(8, 0, b""))
    assert read(transport) == (2, 1, b"h" * 40)
    assert transport.buffered_frame() == (3, 1, b"body")
    assert transport.buffered_frame() == (8, 0, b"")
    assert transport.buffered_frame() is None


def test_a_bad_frame_end_is_an_error_in_the_buffer_too(pair) -> None:
    transport, peer = pair
    peer.sendall(frame(1, 1, b"x") + frame(1, 1, b"y", end=0x00))
    assert read(transport) == (1, 1, b"x")
    with pytest.raises(UnexpectedFrame):
        transport.buffered_frame()
