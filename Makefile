# webrtc-broker. `make run` starts a local cluster, `make test` runs the tests.
GO       ?= go
BIN      := bin
PLUGINS  := $(wildcard plugins/*/main.go)

.PHONY: all build test js-test race proto run run-nats lint bench scale soak fuzz clean

all: build

build:
	@mkdir -p $(BIN)/plugins
	$(GO) build -o $(BIN)/ ./cmd/...
	@for p in $(dir $(PLUGINS)); do \
		n=$$(basename $$p); $(GO) build -o $(BIN)/plugins/$$n ./$$p || exit 1; \
	done

# The whole suite with the race detector. CI runs exactly this.
test: js-test
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 15m ./...
	# The allocation tests again without -race: the race detector makes
	# sync.Pool drop buffers at random, so under -race they skip.
	$(GO) test -count=1 -run 'DoesNotAllocate' ./core/... ./client/... ./commserver/...

# The browser SDK: unit tests (with the protocol's vectors and the check that
# the committed bundle is fresh) and the type check. Installs the pinned npm
# packages first when they are missing (CI installs them before the network goes).
js-test:
	@test -d client/js/node_modules || (cd client/js && npm ci --no-audit --no-fund)
	cd client/js && npm test && npx tsc --noEmit

# Regenerates protocol/*.pb.go, plugins/proto/*.pb.go and the browser SDK's
# client/js/src/gen/broker_pb.ts. Needs protoc (Debian: protobuf-compiler);
# the Go generators are pinned in go.mod as tools, protoc-gen-es in
# client/js/package-lock.json (npm ci in client/js first).
proto:
	@mkdir -p $(BIN)/tools client/js/src/gen
	$(GO) build -o $(BIN)/tools/protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go
	$(GO) build -o $(BIN)/tools/protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc
	cd protocol && protoc --plugin=protoc-gen-go=../$(BIN)/tools/protoc-gen-go \
		--go_out=. --go_opt=paths=source_relative broker.proto
	cd protocol && protoc --plugin=protoc-gen-es=../client/js/node_modules/.bin/protoc-gen-es \
		--es_out=../client/js/src/gen --es_opt=target=ts broker.proto
	@if [ -d plugins/proto ]; then cd plugins/proto && protoc \
		--plugin=protoc-gen-go=../../$(BIN)/tools/protoc-gen-go \
		--plugin=protoc-gen-go-grpc=../../$(BIN)/tools/protoc-gen-go-grpc \
		--go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative *.proto; fi

# A coordinator and two communication servers in a mesh on loopback.
run: build
	$(BIN)/brokerctl cluster

# The same, relaying between the servers through a NATS server embedded in
# brokerctl (127.0.0.1, a free port): cluster.transport=nats.
run-nats: build
	$(BIN)/brokerctl cluster --nats

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# Every fuzz target for FUZZTIME each (default 30s); CI runs it with a few seconds.
fuzz:
	./test/fuzz.sh

bench: build
	./bench/run.sh

# The cost model of a growing cluster (issue 13): arithmetic, seconds.
scale:
	go run ./bench/scale

# The soak of issue 12: SOAK_DURATION (default 30m) of dense reliable load
# with churn; writes bench/results/soak.md and soak.svg. Not in CI.
soak: build
	./bench/soak.sh

clean:
	rm -rf $(BIN)
