#!/bin/sh
# Checks every #include "..." against the layering table in
# docs/ARCHITECTURE.md: dependencies point down only.
#   util/     -> util/ only (the bottom library: libc)
#   everyone  -> util/util.h (the rows below add it)
#   storage/  -> (nothing of ours but storage/)
#   snapshot/ format*.c, format.h -> snapshot/format.h only
#   snapshot/ (rest) -> storage/store.h, snapshot/
#   daemon/   -> storage/store.h, snapshot/snapshot.h, snapshot/format.h, daemon/
#   tools/P/  -> snapshot/format.h, tools/P/ (each program its own folder;
#                one program never includes another's headers)
# Module-private headers (storage/item.h, ...) stay inside their folder.
# <lmdb.h> and mdb_* appear only in snapshot/format*.c and fmt_*.h.
src=${EMBER_SRCDIR:-$(dirname "$0")/..}
cd "$src" || exit 99
fail=0
check() {  # file allowed-regex
    f=$1 allowed=$2
    grep -o '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[^"]*"' "$f" |
        sed 's/.*"\(.*\)"/\1/' | while read -r inc; do
        case $inc in config.h) continue ;; esac
        # a bare name is a sibling in the same folder
        case $inc in */*) path=$inc ;; *) path=$(dirname "$f")/$inc ;; esac
        if ! printf '%s\n' "$path" | grep -Eq "^($allowed)\$"; then
            echo "layering: $f includes \"$inc\" ($path), not allowed"
            echo x
        fi
    done
}
util='util/util\.h'
out=$(
for f in $(find util -name '*.[ch]'); do
    check "$f" 'util/[a-z_]+\.h'
done
for f in $(find storage -name '*.[ch]'); do
    check "$f" "$util|storage/[a-z_]+\\.h"
done
for f in $(find snapshot -name 'format*.[ch]' -o -name 'fmt_*.[ch]'); do
    check "$f" "$util|snapshot/(format|fmt_[a-z_]+)\\.h"
done
for f in $(find snapshot -name '*.[ch]' ! -name 'format*' ! -name 'fmt_*'); do
    check "$f" "$util|storage/store\\.h|snapshot/[a-z_]+\\.h"
done
for f in $(find daemon -name '*.[ch]'); do
    check "$f" "$util|storage/store\\.h|snapshot/snapshot\\.h|snapshot/format\\.h|daemon/[a-z_]+\\.h"
done
for f in $(find tools -name '*.[ch]'); do
    case $f in
    tools/*/*) own=$(dirname "$f") ;;
    *) echo "layering: $f is not in a program's folder (tools/P/)"
       echo x
       continue ;;
    esac
    check "$f" "$util|snapshot/format\\.h|$own/[a-z_]+\\.h"
done
)
if printf '%s\n' "$out" | grep -q '^x$'; then
    printf '%s\n' "$out" | grep -v '^x$'
    fail=1
fi
# util and storage must not even mention the libraries above them
if grep -En '#[[:space:]]*include[[:space:]]*<(event2?/|lmdb|zstd)' \
        $(find util storage -name '*.[ch]'); then
    echo "layering: util/ or storage/ includes libevent, lmdb or zstd"
    fail=1
fi
# LMDB stays behind snapshot/format.h: only libsnapfmt's own files
# (snapshot/format*.c, snapshot/fmt_*.h) include <lmdb.h> or call mdb_*;
# everyone else, tests included, goes through the format API
if grep -nE '#[[:space:]]*include[[:space:]]*<lmdb\.h>|\<mdb_[a-z_]+[[:space:]]*\(' \
        $(find storage snapshot daemon tools tests -name '*.[ch]' \
            ! -path 'snapshot/format*' ! -path 'snapshot/fmt_*'); then
    echo "layering: LMDB used outside snapshot/format*.c (use format.h)"
    fail=1
fi
[ $fail -eq 0 ] && echo "layering: ok"
exit $fail
