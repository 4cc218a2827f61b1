#!/bin/sh
# Checks every #include "..." against the layering table in
# docs/ARCHITECTURE.md: dependencies point down only.
#   storage/  -> (nothing of ours but storage/)
#   snapshot/ format*.c, format.h -> snapshot/format.h only
#   snapshot/ (rest) -> storage/store.h, snapshot/
#   daemon/   -> storage/store.h, snapshot/snapshot.h, snapshot/format.h, daemon/
#   tools/    -> snapshot/format.h, tools/
# Module-private headers (storage/item.h, ...) stay inside their folder.
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
out=$(
for f in $(find storage -name '*.[ch]'); do
    check "$f" 'storage/[a-z_]+\.h'
done
for f in $(find snapshot -name 'format*.[ch]' -o -name 'fmt_*.[ch]'); do
    check "$f" 'snapshot/(format|fmt_[a-z_]+)\.h'
done
for f in $(find snapshot -name '*.[ch]' ! -name 'format*' ! -name 'fmt_*'); do
    check "$f" 'storage/store\.h|snapshot/[a-z_]+\.h'
done
for f in $(find daemon -name '*.[ch]'); do
    check "$f" 'storage/store\.h|snapshot/snapshot\.h|snapshot/format\.h|daemon/[a-z_]+\.h'
done
for f in $(find tools -name '*.[ch]'); do
    check "$f" 'snapshot/format\.h|tools/[a-z_]+\.h'
done
)
bad=$(printf '%s\n' "$out" | grep -v '^x$' | sed -n 's/^layering: \([^ ]*\) includes .*/\1/p')
if printf '%s\n' "$out" | grep -q '^x$'; then
    printf '%s\n' "$out" | grep -v '^x$'
fi
# storage must not even mention the libraries above it
lib=$(grep -En '#[[:space:]]*include[[:space:]]*<(event2?/|lmdb|zstd)' \
        $(find storage -name '*.[ch]'))
if [ -n "$lib" ]; then
    printf '%s\n' "$lib"
    echo "layering: storage/ includes libevent, lmdb or zstd"
    bad="$bad
$(printf '%s\n' "$lib" | cut -d: -f1)"
fi
# one case per source file checked; it fails with any bad include
total=$(find storage snapshot daemon tools -name '*.[ch]' | wc -l)
failed=$(printf "%s\n" "$bad" | grep . | sort -u | wc -l)
[ "$failed" -eq 0 ] && echo "layering: ok"
echo "ember-tests: $((total - failed)) passed, $failed failed, 0 skipped"
[ "$failed" -eq 0 ] || exit 1
exit 0
