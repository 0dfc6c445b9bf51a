import sys

from schemaflow.cli import main

sys.exit(main())
