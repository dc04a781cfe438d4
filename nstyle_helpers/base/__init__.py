"""Plumbing every layer uses: the version, the errors, the environment variables, input
checks and the device."""
