# husk: build, demo, test and install.
#
#   make demo    build husk and run a demo container
#   make test    install deps, build, vet, unit tests, integration tests (root)

# Go comes from the upstream tarball in /usr/local/go; find it even when a
# fresh login shell does not have it on the PATH.
export PATH := /usr/local/go/bin:$(PATH)

GO          ?= go
PREFIX      ?= /usr/local
DESTDIR     ?=
BINDIR      := bin
BUILDDIR    := build
HUSK        := $(BINDIR)/husk

VERSION     := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
GIT_COMMIT  := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
GIT_DIRTY   := $(shell git rev-parse -q --verify HEAD >/dev/null 2>&1 && test -n "$$(git status --porcelain 2>/dev/null)" && echo -dirty)
# A static binary (glibc's and libseccomp's archives): no dynamic loader work at each of the two
# process starts of every run and exec (~0.4 ms each), and init never maps host shared libraries.
LDFLAGS     := -X main.version=$(VERSION) -X main.gitCommit=$(GIT_COMMIT)$(GIT_DIRTY) -extldflags=-static
# urfave_cli_no_docs leaves urfave/cli's markdown/man generator (and blackfriday's package init, paid
# by every husk process, the container's init included) out of the binary. netgo and osusergo keep
# glibc's NSS (which cannot work in a static binary) out.
BUILDTAGS   := urfave_cli_no_docs netgo osusergo

# Unit tests: every package except the integration suite, which needs bin/husk.
UNIT_PKGS    = $(shell $(GO) list ./... | grep -v '/integration')
INTEG_TIMEOUT ?= 20m

DEMO_BUNDLE := $(BUILDDIR)/demo-bundle
DEMO_ROOT   := $(BUILDDIR)/demo-root

.PHONY: all build deps demo test vet unit integration vm bench install clean

all: build

build:
	@mkdir -p $(BINDIR)
	CGO_ENABLED=1 $(GO) build -trimpath -tags "$(BUILDTAGS)" -ldflags "$(LDFLAGS)" -o $(HUSK) ./cmd/husk

deps:
	@./scripts/deps.sh

# The demo container's process: what a container sees of itself.
DEMO_SCRIPT := echo "== hostname"; hostname; \
	echo "== ps (this shell is PID $$$$)"; ps -o pid,user,comm; \
	echo "== capabilities"; grep Cap /proc/self/status; \
	echo "== mounts"; cat /proc/self/mounts

$(DEMO_BUNDLE)/config.json: Makefile cmd/mkbundle/main.go $(wildcard tests/bundle/*.go)
	$(GO) run ./cmd/mkbundle -force -hostname husk-demo -o $(DEMO_BUNDLE) -- /bin/sh -c '$(DEMO_SCRIPT)'

demo: deps build $(DEMO_BUNDLE)/config.json
	@id="demo-$$$$-$$(date +%s)"; \
	echo "== husk run $$id"; \
	rc=0; $(HUSK) --root $(CURDIR)/$(DEMO_ROOT) run --bundle $(DEMO_BUNDLE) "$$id" || rc=$$?; \
	echo "== container $$id exited with status $$rc"; \
	if $(HUSK) --root $(CURDIR)/$(DEMO_ROOT) state "$$id" >/dev/null 2>&1; then \
		echo "== container $$id still exists; deleting"; \
		$(HUSK) --root $(CURDIR)/$(DEMO_ROOT) delete --force "$$id"; exit 1; \
	fi; \
	echo "== container $$id was deleted"; \
	exit $$rc

vet:
	$(GO) vet ./...

unit:
	$(GO) test $(UNIT_PKGS)

integration: build
	HUSK_BINARY=$(CURDIR)/$(HUSK) $(GO) test -v -count=1 -timeout $(INTEG_TIMEOUT) ./integration/...
	@echo "== exec tests again with the Go exec init (HUSK_EXEC_INIT=go)"
	HUSK_EXEC_INIT=go HUSK_BINARY=$(CURDIR)/$(HUSK) $(GO) test -v -count=1 -timeout $(INTEG_TIMEOUT) -run Exec ./integration/...

# cgroup v2 + systemd: the driver tests and an end-to-end subset, in one boot of ../shared/testvm
# (skipped, with a message, in a clone without ../shared).
vm: build
	./scripts/test-vm.sh

test: deps build vet unit integration vm

# husk beside runc and crun (installed from Debian when missing), interleaved; BENCH_N=3 for a quick run.
bench: build
	./scripts/bench.sh

install: build
	install -D -m 0755 $(HUSK) $(DESTDIR)$(PREFIX)/sbin/husk

clean:
	rm -rf $(BINDIR) $(BUILDDIR)
