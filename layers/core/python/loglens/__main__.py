import sys

from loglens.devtools.cli import main

sys.exit(main())
