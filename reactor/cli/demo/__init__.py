"""The pieces of `bluegreen demo`, the end-to-end tests and the benchmarks.

haproxy (a real HAProxy process), load (HTTP load with a record of every request), ledger
(abandoned operations reported by stopped sample-app tasks), marathonlb (the baseline: HAProxy
kept in sync with Marathon the way marathon-lb does), scenario (embedded Marathon and sample-app
processes, app definitions, REST waits) and baseline (Marathon's rolling restart under load).
They do not import the reactor's engine or adapters: the demo wires those in.
"""
