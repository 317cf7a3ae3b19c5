"""What the frozen app runs first (PyInstaller's entry script): the same ``main()`` as
``python -m app`` and the ``emotion-meter`` command."""

import sys

from app.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
