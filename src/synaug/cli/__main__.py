import sys

from synaug.cli import main

sys.exit(main())
