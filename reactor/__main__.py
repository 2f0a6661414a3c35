"""`python -m reactor` is the `bluegreen` command."""

from reactor.cli.main import main

raise SystemExit(main())
