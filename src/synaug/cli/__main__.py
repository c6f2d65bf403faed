import sys

try:
    from synaug.cli import main
except KeyboardInterrupt:  # Ctrl-C while Python loads synaug: no traceback
    sys.exit(130)

sys.exit(main())
