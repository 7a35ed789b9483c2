"""`python -m mangacolor_app` runs the same entry point as the `mangacolor` command."""

from mangacolor_app.cli import main

raise SystemExit(main())
