import sys

from selgen.cli import main

sys.exit(main())
