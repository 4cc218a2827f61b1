# daemon/: emberd. Parsers are pure; exec.c joins protocol and storage.
