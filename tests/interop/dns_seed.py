"""A BOLT 10 DNS seed for tests: dnslib's DNS server on 127.0.0.1 (UDP, an ephemeral port)
answering from the zone file given as the first argument. Prints `port <n>` once listening and
serves until its stdin closes (the test holds the pipe, so the server dies with the test)."""

import sys

from dnslib.server import DNSLogger, DNSServer
from dnslib.zoneresolver import ZoneResolver


def main() -> None:
    with open(sys.argv[1], encoding="ascii") as zone:
        resolver = ZoneResolver(zone.read(), glob=False)
    # Queries are logged to stderr: the test reads stdout only for the port and then lets it go.
    logger = DNSLogger(logf=lambda line: print(line, file=sys.stderr, flush=True))
    server = DNSServer(resolver, port=0, address="127.0.0.1", logger=logger)
    server.start_thread()
    print(f"port {server.server.server_address[1]}", flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
