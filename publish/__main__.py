import sys

from publish.build import main

sys.exit(main())
