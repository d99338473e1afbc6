"""`python -m tinyalex` runs the same command line as `tinyalex`."""
import sys

from tinyalex.cli.main import main

sys.exit(main())
