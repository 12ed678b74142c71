import sys

from e2e.testbed import command

sys.exit(command.main())
