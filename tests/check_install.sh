#!/bin/sh
# check_install.sh -- `make install` gives an operator what the unit and
# the manual pages promise (issue 14): both binaries, emberd(8) and
# embersnap(1) rendering without warnings and naming every option, the
# systemd unit whose ExecStart, --config file and Documentation= all
# exist, an example config that starts the installed emberd as the unit
# would, and an uninstall that leaves nothing but an operator's config.
# Runs `make install DESTDIR=<tmp>` in $EMBER_BUILDDIR.
# Output: one line per failed case, then the ember-tests tally.
set -u
: "${EMBER_BUILDDIR:?set by make check}"
: "${EMBERD:?set by make check}"
: "${EMBERSNAP:?set by make check}"
. "${EMBER_SRCDIR:?set by make check}/tests/check_lib.sh"
dest=$tmp/dest

$MAKE -s -C "$EMBER_BUILDDIR" install DESTDIR="$dest" \
    >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; bad "install"; }
eval "$($MAKE -s -C "$EMBER_BUILDDIR" print-install-dirs)"

check "binaries" test -x "$dest$bindir/emberd" -a -x "$dest$bindir/embersnap"

# ---- manual pages ---------------------------------------------------------
man8=$dest$mandir/man8/emberd.8
man1=$dest$mandir/man1/embersnap.1
check "man pages installed" test -f "$man8" -a -f "$man1"
if command -v groff >/dev/null 2>&1; then
    for page in "$man8" "$man1"; do
        # (no "cannot adjust line": long install paths are not errors)
        out=$(groff -man -ww -Wbreak -z -Tutf8 "$page" 2>&1)
        check "groff warnings in $page: $out" test -z "$out"
    done
    check "no unsubstituted @dir@" \
        sh -c '! grep -n "@[a-z]*dir@" "$1" "$2"' - "$man8" "$man1"
else
    skipped check_install.groff "groff not installed"
fi
# every long option of emberd -h is in emberd(8) (troff writes - as \-)
plain8=$(sed 's/\\-/-/g' "$man8")
for opt in $("$EMBERD" -h | grep -o -- '--[a-z][a-z-]*' | sort -u); do
    check "emberd(8) lacks $opt" sh -c 'printf "%s" "$1" | grep -q -- "$2"' \
        - "$plain8" "$opt"
done
plain1=$(sed 's/\\-/-/g' "$man1")
for cmd in $("$EMBERSNAP" --help | sed -n 's/^  \([a-z][a-z]*\)  .*/\1/p'); do
    check "embersnap(1) lacks $cmd" sh -c \
        'printf "%s" "$1" | grep -q "^\.BR $2 "' - "$plain1" "$cmd"
    for opt in $("$EMBERSNAP" "$cmd" --help | grep -o -- '--[a-z][a-z-]*' |
                 grep -v -- '--help' | sort -u); do
        check "embersnap(1) lacks $cmd $opt" sh -c \
            'printf "%s" "$1" | grep -q -- "$2"' - "$plain1" "$opt"
    done
done

# ---- the unit -------------------------------------------------------------
unit=$dest$systemdsystemunitdir/emberd.service
check "unit installed" test -f "$unit"
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
bin=${exec_start%% *}
conf=$(printf '%s\n' "$exec_start" | sed -n 's/.*--config=\([^ ]*\).*/\1/p')
check "ExecStart $bin installed" test -x "$dest$bin"
check "ExecStart's --config $conf installed" test -f "$dest$conf"
# systemctl reload is a takeover with the same binary and options
check "ExecReload: the same emberd and --config, with --takeover" sh -c \
    'grep -qx -- "ExecReload=$1 --takeover -d" "$2"' - "$exec_start" "$unit"
check "NotifyAccess=all (the reload's emberd sends MAINPID=)" \
    grep -qx NotifyAccess=all "$unit"
for doc in $(sed -n 's/^Documentation=//p' "$unit"); do
    case $doc in
    man:*)
        name=${doc#man:}; sec=${name#*(}; sec=${sec%)}; name=${name%%(*}
        check "Documentation=$doc" test -f "$dest$mandir/man$sec/$name.$sec" ;;
    file://*)
        check "Documentation=$doc" test -f "$dest${doc#file://}" ;;
    *) bad "Documentation=$doc: neither man: nor file://" ;;
    esac
done
if command -v systemd-analyze >/dev/null 2>&1; then
    sed -e "s|^ExecStart=$bin|ExecStart=$dest$bin|" \
        -e "s|^ExecReload=$bin|ExecReload=$dest$bin|" "$unit" \
        > "$tmp/emberd.service"
    # --man=no: the Documentation= pages are checked above, file by
    # file; systemd-analyze would run man(1), which a minimal machine
    # lacks
    out=$(systemd-analyze verify --man=no \
          "$tmp/emberd.service" 2>&1)
    check "systemd-analyze verify: $out" test -z "$out"
else
    skipped check_install.systemd-analyze "not installed"
fi

# ---- the installed emberd starts with the installed config ---------------
port=$(python3 -c 'import socket; s = socket.socket()
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$dest$bin" --config="$dest$conf" -p "$port" --snapshot-dir="$tmp/state" \
    2>"$tmp/emberd.err" &
pid=$!
up=$(python3 - "$port" <<'PY'
import socket, sys, time
for _ in range(150):
    try:
        with socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1) as s:
            s.sendall(b"version\r\n")
            if s.recv(64).startswith(b"VERSION "):
                print("yes")
                break
    except OSError:
        time.sleep(0.1)
else:
    print("no")
PY
)
why=$(cat "$tmp/emberd.err")
check "installed emberd serves with the installed config: $why" \
    test "$up" = yes
kill -TERM "$pid" 2>/dev/null
wait "$pid"
check "installed emberd exits 0 on SIGTERM" test $? -eq 0
# (as root, emberd warns it keeps root: the unit runs it as its own user)
check "no warning from the example config: $(cat "$tmp/emberd.err")" \
    sh -c '! grep warning "$1" | grep -vq "running as root"' - "$tmp/emberd.err"

# ---- uninstall ------------------------------------------------------------
echo "-m 99  # the operator's own" >> "$dest$conf"
$MAKE -s -C "$EMBER_BUILDDIR" install DESTDIR="$dest" >/dev/null 2>&1
check "reinstall keeps the operator's config" grep -q -- "-m 99" "$dest$conf"
$MAKE -s -C "$EMBER_BUILDDIR" uninstall DESTDIR="$dest" >/dev/null 2>&1
left=$(find "$dest" -type f | sed "s|^$dest||")
check "uninstall leaves only the operator's config: $left" \
    test "$left" = "$conf"
rm -f "$dest$conf"
$MAKE -s -C "$EMBER_BUILDDIR" install DESTDIR="$dest" >/dev/null 2>&1
$MAKE -s -C "$EMBER_BUILDDIR" uninstall DESTDIR="$dest" >/dev/null 2>&1
left=$(find "$dest" -type f)
check "uninstall removes an untouched config: $left" test -z "$left"

finish
