"""Controllers: what wires the widgets to the cores and owns the threads, files and settings."""
