# What `make install` puts beside the two binaries, and what `make dist`
# carries besides the sources: the manual pages, the systemd unit (with
# configure's paths filled in), the example configuration, the documents
# the unit and the manual pages name, the license.

man_MANS = man/emberd.8 man/embersnap.1

systemdsystemunit_DATA = contrib/emberd.service

dist_doc_DATA = README.md LICENSE \
	docs/ARCHITECTURE.md docs/BENCHMARKS.md docs/DAEMON.md \
	docs/DEPLOYMENT.md docs/DURABILITY.md docs/META-PROTOCOL.md \
	docs/SNAPSHOT-FORMAT.md docs/SNAPSHOT-OPERATIONS.md docs/STATS.md \
	docs/STORAGE.md \
	docs/rolling-restart.png docs/rolling-restart.tsv

examplesdir = $(docdir)/examples
dist_examples_DATA = contrib/emberd.conf examples/README.md \
	examples/cache_aside.py examples/restart_demo.py

EXTRA_DIST += contrib/emberd.service.in man/emberd.8.in man/embersnap.1.in \
	build.sh .clang-format .ci/run .ci/allowed-skips
CLEANFILES += $(man_MANS) $(systemdsystemunit_DATA)

# Installation directories are known at make time only (a user may say
# `make prefix=...`): substitute them here, not in configure.
edit_paths = sed -e 's|@bindir[@]|$(bindir)|g' \
	-e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	-e 's|@docdir[@]|$(docdir)|g' \
	-e 's|@systemdsystemunitdir[@]|$(systemdsystemunitdir)|g'

contrib/emberd.service: $(srcdir)/contrib/emberd.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) contrib && \
	    $(edit_paths) $(srcdir)/contrib/emberd.service.in > $@.tmp && \
	    mv $@.tmp $@
man/emberd.8: $(srcdir)/man/emberd.8.in Makefile
	$(AM_V_GEN)$(MKDIR_P) man && \
	    $(edit_paths) $(srcdir)/man/emberd.8.in > $@.tmp && mv $@.tmp $@
man/embersnap.1: $(srcdir)/man/embersnap.1.in Makefile
	$(AM_V_GEN)$(MKDIR_P) man && \
	    $(edit_paths) $(srcdir)/man/embersnap.1.in > $@.tmp && mv $@.tmp $@

# The unit reads $(sysconfdir)/emberd.conf: install the example there
# unless one exists (an operator's file is never replaced), and remove it
# at uninstall only while it is still the example.
install-data-local:
	$(MKDIR_P) '$(DESTDIR)$(sysconfdir)'
	@if test -e '$(DESTDIR)$(sysconfdir)/emberd.conf'; then \
	    echo "keeping $(DESTDIR)$(sysconfdir)/emberd.conf"; \
	else \
	    echo " $(INSTALL_DATA) emberd.conf '$(DESTDIR)$(sysconfdir)'"; \
	    $(INSTALL_DATA) $(srcdir)/contrib/emberd.conf \
	        '$(DESTDIR)$(sysconfdir)/emberd.conf'; \
	fi
uninstall-local:
	@if cmp -s $(srcdir)/contrib/emberd.conf \
	        '$(DESTDIR)$(sysconfdir)/emberd.conf'; then \
	    echo " rm -f '$(DESTDIR)$(sysconfdir)/emberd.conf'"; \
	    rm -f '$(DESTDIR)$(sysconfdir)/emberd.conf'; \
	fi

# For tests/check_install.sh: where this build installs.
print-install-dirs:
	@echo "bindir='$(bindir)' mandir='$(mandir)' docdir='$(docdir)'" \
	    "sysconfdir='$(sysconfdir)'" \
	    "systemdsystemunitdir='$(systemdsystemunitdir)'"
# For tests/check_dist.sh: the tarball `make dist` writes.
print-dist-archive:
	@echo '$(DIST_ARCHIVES)'
.PHONY: print-install-dirs print-dist-archive

# Every file git tracks is in the tarball (.gitignore aside): a file added
# to the tree but not to a Makefile fails `make dist` instead of going
# missing from releases. Checked only where the sources are a git tree.
dist-hook:
	@if git -C '$(srcdir)' rev-parse --is-inside-work-tree \
	        >/dev/null 2>&1; then \
	    missing=$$(git -C '$(srcdir)' ls-files | while read -r f; do \
	        case $$f in .gitignore|*/.gitignore) continue ;; esac; \
	        test -e '$(distdir)'/"$$f" || echo "$$f"; done); \
	    if test -n "$$missing"; then \
	        echo "make dist: tracked but not distributed:" $$missing >&2; \
	        exit 1; \
	    fi; \
	fi
