"""An HTTP server answering every request with 200 and SIZE bytes of JSON whitespace, sent
as fast as the client reads, with no length declared (the body ends when the connection
closes): a document engine gone mad. Usage: endless_http.py PORT SIZE"""

import socket
import sys
import threading


def answer(conn, size):
    with conn:
        try:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                         b"connection: close\r\n\r\n")
            chunk = b" " * 65536
            sent = 0
            while sent < size:
                conn.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass


def main():
    port, size = int(sys.argv[1]), int(sys.argv[2])
    server = socket.create_server(("127.0.0.1", port))
    while True:
        conn, _ = server.accept()
        threading.Thread(target=answer, args=(conn, size), daemon=True).start()


if __name__ == "__main__":
    main()
