"""Chaos soak: back-to-back blue-green deployments in one world, a random fault in each.

One world for the whole run (embedded Marathon with the process executor and Marathon 1.11's
default behaviour, real HAProxy with the README's retry settings, sample-app tasks, the reactor
as a daemon child process, steady load with slow operations). Each deployment draws a fault and
a moment from a seeded RNG (`--seed`), and is checked against the invariants of invariants.py.

    python -m tests.soak --deployments 100 --seed 1

Modules: plan (the seeded fault schedule), faults (applying each fault), watch (Marathon events
the checks need), invariants (the checks after each deployment), runner (the world and the
loop), report (the table per fault kind), __main__ (the command). Nothing here is imported by
the product.
"""
