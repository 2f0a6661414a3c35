"""Load balancer drivers behind one protocol: haproxy (Runtime API), command, none."""
