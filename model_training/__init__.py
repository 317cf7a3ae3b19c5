"""Training of the emotion model: corpora to the bundle the app runs."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter hides ours
