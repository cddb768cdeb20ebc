"""Local emulation stack: a Google Directory API emulator and an extended moto server."""
