"""What the notebooks show: the session line, each lesson's settings, figures, movies and
widgets."""
