# snapshot/: on-disk format (libsnapfmt.a) and writer/loader (libsnapshot.a).
