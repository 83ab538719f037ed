import sys

from restora.cli.main import main

sys.exit(main())
