"""Widgets: what draws, fed by calls from the controllers and the main window."""
