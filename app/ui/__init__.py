"""The desktop window, in two rooms and a hall. ``views/`` holds the widgets, the things that
draw (panels, plots, strips, bars, the toolbar), one per file, fed by calls; the teach dialog is
one too, though a wizard that checks its takes on threads of its own. ``controllers/`` holds the
objects that wire widgets to the cores and own the workers, threads, files and settings
(listening, inspection, playback, recording, voices, saving, prompts). Here stay what neither
room is: ``main_window`` composes both, ``driver`` drives it for tests and benchmarks, and the
shared ``theme``, ``about`` (the model's words) and ``announce`` (screen-reader speech)."""
