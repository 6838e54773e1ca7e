#!/usr/bin/env python3
"""Open N keep-alive connections to HOST:PORT, send one GET on each, keep them
idle, then print the RSS of PID. Bounded: closes everything and exits."""
import socket, sys, time

host, port, n, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

def rss_kb(p):
    with open(f"/proc/{p}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1

before = rss_kb(pid)
socks = []
for _ in range(n):
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    s.recv(4096)
    socks.append(s)
time.sleep(1.0)
after = rss_kb(pid)
print(f"BENCH idle_conns={n} rss_before_kb={before} rss_after_kb={after}")
for s in socks:
    s.close()
