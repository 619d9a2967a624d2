"""The OVSDB connection's reader (netnode.drivers.ovsdb.Ovsdb._receive) on a real
socket pair: a message larger than one read, split at any byte, and messages back to
back, come out whole and in order."""

from __future__ import annotations

import json
import socket
import threading

from netnode.drivers.ovsdb import RECEIVE_SIZE, Ovsdb


def reader_and_writer() -> tuple[Ovsdb, socket.socket]:
    ours, theirs = socket.socketpair()
    ours.settimeout(5)
    db = Ovsdb()
    db._sock = ours
    return db, theirs


def test_a_message_larger_than_a_read_split_anywhere_comes_out_whole() -> None:
    db, theirs = reader_and_writer()
    rows = [{"name": f"port{i}", "external_ids": ["map", [["k", "v" * 40]]]} for i in range(9000)]
    big = json.dumps({"id": 1, "result": [{"rows": rows}], "error": None}).encode()
    small = json.dumps({"id": 2, "result": [], "error": None}).encode()
    assert len(big) > 2 * RECEIVE_SIZE
    data = big + small

    def send() -> None:
        # Pieces of odd sizes, the first ending inside a string, then the rest at once.
        theirs.sendall(data[:1001])
        theirs.sendall(data[1001 : RECEIVE_SIZE + 7])
        theirs.sendall(data[RECEIVE_SIZE + 7 :])

    sender = threading.Thread(target=send)
    sender.start()
    try:
        assert db._receive() == json.loads(big)
        assert db._receive() == json.loads(small)
    finally:
        sender.join()
        db.close()
        theirs.close()


def test_messages_back_to_back_in_one_read() -> None:
    db, theirs = reader_and_writer()
    try:
        theirs.sendall(b'{"id": 1, "result": 1} {"method": "echo", "params": [], "id": "x"}')
        assert db._receive() == {"id": 1, "result": 1}
        assert db._receive() == {"method": "echo", "params": [], "id": "x"}
    finally:
        db.close()
        theirs.close()
