import sys

from modelrollout.cli import main

sys.exit(main())
