import sys

from fraudwatch.cli import main

sys.exit(main())
