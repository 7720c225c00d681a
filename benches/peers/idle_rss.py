#!/usr/bin/env python3
"""idle_rss.py N PORT PID: open N connections through the proxy listening on PORT (process PID),
send one keep-alive request on each and read its answer (benches/peers' backend says
"hello from N"), then report how much the proxy's resident memory grew per open connection.
Start the backend (conf/backend.conf) and the proxy first; raise `ulimit -n` for large N."""
import socket, sys, time, os, subprocess
N=int(sys.argv[1]); port=int(sys.argv[2]); pid=int(sys.argv[3])
def rss(): 
    for l in open(f'/proc/{pid}/status'):
        if l.startswith('VmRSS'): return int(l.split()[1])
r0=rss(); socks=[]
for i in range(N):
    s=socket.create_connection(('127.0.0.1',port)); s.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n\r\n'); socks.append(s)
for s in socks:
    d=b''
    while b'hello from' not in d: d+=s.recv(4096)
time.sleep(1)
r1=rss()
print(f'{N} open connections after one request each: RSS {r0} -> {r1} KiB, {(r1-r0)/N*1024:.0f} bytes per connection')
