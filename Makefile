# sidedesk — see README.md. `make demo` runs it; `make test` tests it.
GO        ?= go
BIN       := bin/sidedesk
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
PKGS      := ./...
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build demo test test-deps bench lint fuzz generate generate-check clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/sidedesk

## demo: run sidedesk on its embedded defaults (SQLite under ./data, in-process IMAP server with sample mail)
demo: build
	./$(BIN) demo

## test: install missing test servers (Dovecot, Radicale; needs root) and run every test
test: test-deps generate-check
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '_templ.go$$')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) test -race -shuffle=on -count=1 -timeout 15m $(PKGS)

test-deps:
	@./scripts/test-deps.sh

## bench: benchmarks with figures (capture vs bare IMAP fetch, IDLE latency, panel, calendar, Slack)
bench: build test-deps
	$(GO) test -run '^$$' -bench . -benchmem -count=1 ./store/... ./capture/... ./ticket/... ./crm/... ./sidebar/... ./chat/... ./mailout/... ./api/... ./webhook/...
	$(GO) run ./internal/bench/imapbench -sidedesk ./$(BIN) -n 2000 -latency 0 -repeat 5    # issue 16's RSS figure at 2,000 mails
	sync
	$(GO) run ./internal/bench/imapbench -sidedesk ./$(BIN) -n 10000 -latency 50 -repeat 5
	sync   # each benchmark starts with the one before written out (imapbench writes ~5 GB)
	$(GO) run ./internal/bench/imapbench -sidedesk ./$(BIN) -n 50000 -latency 0 -repeat 1   # flat to 50,000 mails: ratio and CPU per message (~2.5 GB of mail, ~3 min)
	sync
	$(GO) run ./internal/bench/panelbench
	sync
	$(GO) run ./calendar/internal/calbench -agents 200 -dir .bench/calbench   # the seeded Radicale storage is kept for the next run

lint:
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '_templ.go$$')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) run $(STATICCHECK) $(PKGS)
	$(GO) test -run '^TestTemplGenerated$$' ./sidebar/

## fuzz: run each fuzz target for a while (FUZZTIME, default 30s)
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./capture
	$(GO) test -run '^$$' -fuzz '^FuzzParseBulk$$' -fuzztime $(FUZZTIME) ./capture
	$(GO) test -run '^$$' -fuzz '^FuzzReadCalendarData$$' -fuzztime $(FUZZTIME) ./calendar

generate:
	$(GO) tool templ generate   # templ views (sidebar/views), from the root: commit the generated *_templ.go

## generate-check: what templ's docs give as the CI check; part of make test
generate-check:
	@$(GO) tool templ generate >/dev/null 2>&1 && git diff --exit-code -- '*_templ.go' >/dev/null || { echo "generated templ files are stale: run make generate and commit"; git diff --stat -- '*_templ.go'; exit 1; }

clean:
	rm -rf bin
