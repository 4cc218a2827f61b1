# daemon/proto_*.c: the pure protocol parsers and their Check suites.
