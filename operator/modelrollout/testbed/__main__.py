import sys

from modelrollout.testbed import command

sys.exit(command.main())
