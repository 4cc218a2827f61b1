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
    *) echo "layering: $f includes from tools/ itself: a program's files" \
            "belong in its folder, tools/P/"
       echo x
       continue ;;
    esac
    check "$f" "$util|snapshot/format\\.h|$own/[a-z_]+\\.h"
done
)
bad=$(printf '%s\n' "$out" | grep -v '^x$' | sed -n 's/^layering: \([^ ]*\) includes .*/\1/p')
if printf '%s\n' "$out" | grep -q '^x$'; then
    printf '%s\n' "$out" | grep -v '^x$'
fi
# util and storage must not even mention the libraries above them
lib=$(grep -En '#[[:space:]]*include[[:space:]]*<(event2?/|lmdb|zstd)' \
        $(find util storage -name '*.[ch]'))
if [ -n "$lib" ]; then
    printf '%s\n' "$lib"
    echo "layering: util/ or storage/ includes libevent, lmdb or zstd"
    bad="$bad
$(printf '%s\n' "$lib" | cut -d: -f1)"
fi
# LMDB stays behind snapshot/format.h: only libsnapfmt's own files
# (snapshot/format*.c, snapshot/fmt_*.h) include <lmdb.h> or call mdb_*;
# everyone else, tests included, goes through the format API
lmdb=$(grep -nE '#[[:space:]]*include[[:space:]]*<lmdb\.h>|\<mdb_[a-z_]+[[:space:]]*\(' \
        $(find storage snapshot daemon tools tests -name '*.[ch]' \
            ! -path 'snapshot/format*' ! -path 'snapshot/fmt_*'))
if [ -n "$lmdb" ]; then
    printf '%s\n' "$lmdb"
    echo "layering: LMDB used outside snapshot/format*.c (use format.h)"
    bad="$bad
$(printf '%s\n' "$lmdb" | cut -d: -f1)"
fi
# one case per source file checked; it fails with any bad include
total=$(find util storage snapshot daemon tools tests -name '*.[ch]' | wc -l)
failed=$(printf "%s\n" "$bad" | grep . | sort -u | wc -l)
[ "$failed" -eq 0 ] && echo "layering: ok"
echo "ember-tests: $((total - failed)) passed, $failed failed, 0 skipped"
[ "$failed" -eq 0 ] || exit 1
exit 0
