# tests/: one Check suite per module, plus layering and end-to-end tests.
