# make install / make uninstall, under PREFIX (default /usr/local) and below
# DESTDIR when packaging:
#   bin/                     roost, roost-writer, roost-broker, roost-reader
#   lib/libroost.so.1        and libroost.so, the client library
#   lib/roost/               FAISS's shared libraries, private to roost
#   include/roost/           roost.h and the error codes it includes
#   lib/pkgconfig/roost.pc   pkg-config --cflags --libs roost
#   lib/python3/dist-packages/roost.py   the Python binding
#   share/man/man1/          roost(1) and a page per process, from --help
#   lib/systemd/system/roost@.service    one instance per name
# The writer and readers installed are linked again with $ORIGIN/../lib/roost
# as their rpath, and the CLI finds libroost in $ORIGIN/../lib: nothing
# installed points into the build tree or the FAISS cache, which may go.
# FAISS stays a shared library (built here from Debian's source, with its
# C API, which Debian's package lacks): copied beside roost rather than
# into the system's library path, where a later libfaiss package would
# clash with it.

.DEFAULT_GOAL := all

PREFIX ?= /usr/local
DESTDIR ?=
ROOST_VERSION := $(shell sed -n 's/^\#define ROOST_VERSION "\(.*\)"$$/\1/p' client/roost.h)

MAN_NAMES := roost roost-writer roost-broker roost-reader
MAN_PAGES := $(MAN_NAMES:%=$(BUILD)/man/%.1)
INSTALLED_BINS := $(INSTALLED)/roost-writer $(INSTALLED)/roost-reader

$(INSTALLED)/%: FAISS_RPATH = $$ORIGIN/../lib/roost

$(MAN_PAGES) &: scripts/manpage.py client/roost.h $(BUILD)/bin/roost $(BUILD)/bin/roost-writer \
		$(BUILD)/bin/roost-broker $(BUILD)/bin/roost-reader
	$(PYTHON) scripts/manpage.py $(BUILD)/bin $(BUILD)/man $(ROOST_VERSION)

all: $(MAN_PAGES)

# The pkg-config file and the unit file name PREFIX: written at each install.
.PHONY: install uninstall
install: all $(INSTALLED_BINS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/roost \
		$(DESTDIR)$(PREFIX)/include/roost $(DESTDIR)$(PREFIX)/lib/pkgconfig \
		$(DESTDIR)$(PREFIX)/lib/python3/dist-packages $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 755 $(CLI_BIN) $(BUILD)/bin/roost-broker $(INSTALLED_BINS) \
		$(DESTDIR)$(PREFIX)/bin
	install -m 755 $(LIBROOST_SO) $(DESTDIR)$(PREFIX)/lib
	ln -sf $(LIBROOST_SONAME) $(DESTDIR)$(PREFIX)/lib/libroost.so
	install -m 755 $(FAISS_PREFIX)/lib/libfaiss.so $(FAISS_PREFIX)/lib/libfaiss_c.so \
		$(DESTDIR)$(PREFIX)/lib/roost
	install -m 644 client/roost.h base/err.h $(DESTDIR)$(PREFIX)/include/roost
	printf '%s\n' 'prefix=$(PREFIX)' 'includedir=$${prefix}/include/roost' \
		'libdir=$${prefix}/lib' '' 'Name: roost' \
		'Description: client library of roost, a vector memory service for LLM agents' \
		'Version: $(ROOST_VERSION)' 'Libs: -L$${libdir} -lroost' \
		'Cflags: -I$${includedir}' > $(DESTDIR)$(PREFIX)/lib/pkgconfig/roost.pc
	install -m 644 client/python/roost.py $(DESTDIR)$(PREFIX)/lib/python3/dist-packages
	install -m 644 $(MAN_PAGES) $(DESTDIR)$(PREFIX)/share/man/man1
	sed 's|@BINDIR@|$(PREFIX)/bin|g' sup/roost@.service.in \
		> $(DESTDIR)$(PREFIX)/lib/systemd/system/roost@.service

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,roost roost-writer roost-broker roost-reader) \
		$(DESTDIR)$(PREFIX)/lib/$(LIBROOST_SONAME) $(DESTDIR)$(PREFIX)/lib/libroost.so \
		$(DESTDIR)$(PREFIX)/lib/roost/libfaiss.so $(DESTDIR)$(PREFIX)/lib/roost/libfaiss_c.so \
		$(DESTDIR)$(PREFIX)/include/roost/roost.h $(DESTDIR)$(PREFIX)/include/roost/err.h \
		$(DESTDIR)$(PREFIX)/lib/pkgconfig/roost.pc \
		$(DESTDIR)$(PREFIX)/lib/python3/dist-packages/roost.py \
		$(MAN_NAMES:%=$(DESTDIR)$(PREFIX)/share/man/man1/%.1) \
		$(DESTDIR)$(PREFIX)/lib/systemd/system/roost@.service
	-rmdir $(DESTDIR)$(PREFIX)/lib/roost $(DESTDIR)$(PREFIX)/include/roost 2>/dev/null
