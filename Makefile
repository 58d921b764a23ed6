# renderd: `make run` and `make test` do all the set-up on a fresh machine.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO          ?= go
BIN         := bin
STACK_ENV   := .data/stack.env
DEV_ACCOUNT := .data/dev-account.json
# The dev key ring sealing webhook signing secrets (RENDERD_SECRETS_KEY):
# made once by `make run`, mode 0600, kept with the stack's data.
SECRETS_KEY := .data/secrets.key
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Loads DATABASE_URL and KAFKA_BROKERS written by deployments/local/up (and,
# with its S3 server, RENDERD_TEST_BLOB_URL and the AWS credentials, and
# RENDERD_BLOB_URL when RENDERD_LOCAL_S3=1 asked renderd to use it).
WITH_STACK  := set -a; . ./$(STACK_ENV); set +a;
# The tests and the benchmarks: the stack always with its S3 server, whose
# address they find in RENDERD_TEST_BLOB_URL; RENDERD_BLOB_URL unset,
# because the renderd processes they start inherit the environment and must
# keep the blob folders the tests and benchmarks give them.
TEST_STACK_UP   := RENDERD_LOCAL_S3=1 deployments/local/up
WITH_TEST_STACK := $(WITH_STACK) unset RENDERD_BLOB_URL;
# RENDERD_SECRETS_KEY from the environment, else from $(SECRETS_KEY).
WITH_KEY    := export RENDERD_SECRETS_KEY="$${RENDERD_SECRETS_KEY:-$$(cat $(SECRETS_KEY))}";

.PHONY: help stack stack-down build run test test-unit lint bench chaos fmt clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

stack: ## install (if missing) and start Postgres, Kafka and ffmpeg locally (RENDERD_LOCAL_S3=1: and an S3 server, RENDERD_KAFKA_NODES=3: three Kafka nodes)
	deployments/local/up

stack-down: ## stop the local stack
	deployments/local/down

build: ## build bin/renderd, its media sandbox helper bin/renderd-sandbox, bin/renderd-bench, bin/renderd-chaos and the CLI bin/renderctl
	$(GO) build -o $(BIN)/renderd ./cmd/renderd
	$(GO) build -o $(BIN)/renderctl ./cmd/renderctl
	$(GO) build -o $(BIN)/renderd-sandbox ./cmd/renderd-sandbox
	$(GO) build -o $(BIN)/renderd-bench ./cmd/renderd-bench
	$(GO) build -o $(BIN)/renderd-chaos ./cmd/renderd-chaos

run: stack build ## run renderd with all roles on the local stack (127.0.0.1:8080, RENDERD_HTTP_ADDR overrides)
	@test -s $(SECRETS_KEY) || (umask 077; mkdir -p $(dir $(SECRETS_KEY)); \
	  echo "dev1:$$(head -c 32 /dev/urandom | base64 | tr -d '\n')" > $(SECRETS_KEY))
	@chmod 600 $(SECRETS_KEY)
	@$(WITH_STACK) $(WITH_KEY) $(BIN)/renderd migrate
	@# One dev account per local stack (down --purge forgets it).
	@$(WITH_STACK) test -s $(DEV_ACCOUNT) || $(BIN)/renderd accounts create --name dev > $(DEV_ACCOUNT)
	@echo
	@echo "  renderd:     http://$${RENDERD_HTTP_ADDR:-127.0.0.1:8080}   (Ctrl-C stops it)"
	@echo "  dev API key: $$(sed -E 's/.*"api_key":"([^"]+)".*/\1/' $(DEV_ACCOUNT))"
	@echo "  try:         curl -H \"Authorization: Bearer <key>\" -H 'Content-Type: application/json' \\"
	@echo "                 -d '{\"kind\":\"video\",\"name\":\"demo\"}' http://$${RENDERD_HTTP_ADDR:-127.0.0.1:8080}/v1/assets"
	@echo
	@# Local development: webhooks may reach receivers on this machine over http.
	@$(WITH_STACK) $(WITH_KEY) RENDERD_WEBHOOK_ALLOW="$${RENDERD_WEBHOOK_ALLOW-127.0.0.0/8,::1/128}" \
	  RENDERD_WEBHOOK_ALLOW_HTTP="$${RENDERD_WEBHOOK_ALLOW_HTTP-true}" exec $(BIN)/renderd serve

# Each target with its budget in executions (about 8 s each here). A count,
# not a duration: go1.26's fuzz coordinator can report a bare "context
# deadline exceeded" when a -fuzztime duration ends mid-exec (golang/go#75804,
# fixed in go1.27); a count has no deadline to race.
FUZZ_TARGETS := FuzzDecodeCreateAsset:20000 FuzzDecodeRequestCut:20000 FuzzAuthorization:2000 \
                FuzzPathID:20000 FuzzQuery:20000 FuzzHeaders:20000
# The Go SDK's decoding of answers (client/): error bodies and responses.
CLIENT_FUZZ_TARGETS := FuzzDecodeError:20000 FuzzDecodeResponse:20000
# The Go reader of render outputs (adapters/ffmpeg): MP4/MOV/M4A boxes, MP3
# frame headers.
FFMPEG_FUZZ_TARGETS := FuzzReadMP4:20000 FuzzReadMP3:20000

test: ## every test, unit and integration, with -race, on the real stack (its S3 server too); then a short fuzz of the request decoders (bodies, path ids, queries, headers), of the Go SDK's answer decoding and of the output reader
	$(TEST_STACK_UP)
	$(WITH_TEST_STACK) RENDERD_REQUIRE_STACK=1 $(GO) test -race -count=1 -timeout 20m ./...
	for t in $(FUZZ_TARGETS); do $(GO) test -run '^$$' -fuzz "^$${t%%:*}$$" -fuzztime "$${t##*:}x" ./ports/httpapi || exit 1; done
	for t in $(CLIENT_FUZZ_TARGETS); do $(GO) test -run '^$$' -fuzz "^$${t%%:*}$$" -fuzztime "$${t##*:}x" ./client || exit 1; done
	for t in $(FFMPEG_FUZZ_TARGETS); do $(GO) test -run '^$$' -fuzz "^$${t%%:*}$$" -fuzztime "$${t##*:}x" ./adapters/ffmpeg || exit 1; done

test-unit: ## the tests that need no stack (integration tests skip)
	$(GO) test -count=1 ./...

lint: ## go vet, staticcheck, gofmt, and the layers' import rules (scripts/check-imports)
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	scripts/check-imports

bench: build ## benchmarks on the local stack (its S3 server too), printed as a table
	$(TEST_STACK_UP)
	@$(WITH_TEST_STACK) $(BIN)/renderd-bench

# The fault suite's own stack: it kills and restarts Postgres and Kafka, so
# never the stack of make run / make test (other folder, other ports). The
# ports lie below Linux's ephemeral range (32768-60999): a restarted broker
# must not find its port taken by some client's outgoing connection. Kafka
# runs 3 nodes (29392-29397), so that one of them can be stopped with renders
# in flight. Its SeaweedFS (S3 API on 29433; master, volume and filer up to
# 29440; not 29333, the gRPC port of a SeaweedFS master on weed's default
# 19333) holds every blob: the fleet's processes share no folder, as on
# separate hosts. Three JVMs starting at once on 2 cores (kafka-restart) may
# take longer than up's default 90 s.
CHAOS_DATA  := .data/chaos
CHAOS_STACK := RENDERD_DATA_DIR=$(CURDIR)/$(CHAOS_DATA) RENDERD_PG_PORT=29349 \
               RENDERD_KAFKA_PORT=29392 RENDERD_KAFKA_CONTROLLER_PORT=29393 RENDERD_KAFKA_NODES=3 \
               RENDERD_LOCAL_S3=1 RENDERD_S3_PORT=29433 RENDERD_UP_TIMEOUT=180

chaos: build ## the fault suite: the roles as separate processes on S3 sharing no folder, kill -9 of each role, a Kafka broker killed and the cluster restarted, Postgres restarts, a receiver outage, with renders in flight, on a stack of its own in .data/chaos (purged before and after); 5 to 12 min. CHAOS_FLAGS='-only kill-relay' runs one
	@export $(CHAOS_STACK); unset RENDERD_BLOB_URL; \
	  deployments/local/down --purge >/dev/null 2>&1 || true; \
	  trap 'deployments/local/down --purge >/dev/null 2>&1 || true' EXIT; \
	  deployments/local/up; \
	  set -a; . ./$(CHAOS_DATA)/stack.env; set +a; \
	  $(BIN)/renderd-chaos $(CHAOS_FLAGS)

fmt: ## gofmt the tree
	gofmt -w .

clean: ## remove build output (the stack's data stays; `deployments/local/down --purge` removes it)
	rm -rf $(BIN)
