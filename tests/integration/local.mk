# tests/integration/: end-to-end tests against the real emberd binary.
