"""Local fake venues for end-to-end tests (127.0.0.1 only, real wire formats)."""
