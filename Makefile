# roomcast — `make run` and `make test` set up everything missing on a fresh
# Debian machine (as root: apt packages), build, then run or test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

BIN      := bin/roomcast
APT_PKGS := chromium chromium-driver ffmpeg xvfb pulseaudio libnginx-mod-rtmp nginx-light
GO_FILES := $(shell find . -name '*.go' -not -path './bin/*') $(shell find internal/web -type f 2>/dev/null) go.mod go.sum
RUN_ARGS ?=

.PHONY: help setup deps build run test test-unit test-e2e test-e2e-race fuzz check bench deb clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

deps: ## install missing Debian packages (needs root; skipped otherwise)
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages:$$missing (run as root or install them)"; exit 0; fi; \
	echo "installing:$$missing"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null

# TypeScript checks the browser SDK's declarations in the tests (from npm,
# into .tools; nothing of it ships).
TSC := .tools/node_modules/typescript/bin/tsc
$(TSC):
	@if command -v npm >/dev/null; then npm install --silent --no-save --no-audit --no-fund --prefix .tools typescript@5.9.3 >/dev/null; \
	else echo "npm is missing: the SDK declarations' TypeScript check will fail (apt-get install npm)"; fi

$(BIN): $(GO_FILES)
	go build -buildvcs=auto -o $(BIN) ./cmd/roomcast

build: $(BIN) ## build bin/roomcast

setup: deps $(TSC) build ## deps + build

run: setup ## set up and start roomcast serve (RUN_ARGS="--addr :8080" to change flags)
	./$(BIN) serve $(RUN_ARGS)

test: setup test-unit test-e2e test-e2e-race fuzz ## set up, then every test

test-unit: ## fast unit tests (-short)
	go vet ./...
	go test -short -race -count=1 ./...

test-e2e: ## end-to-end tests with real Chromium, ffmpeg, nginx-rtmp and the real binary (one package at a time: they time media)
	CI=true go test -p 1 -count=1 -timeout 25m ./test/... ./internal/...

RACE_E2E = TestBeamStopsOnItsOwn|TestFinding3|TestKilledWorkerRecordingIsRecovered|TestRemoteWorkerLostMidJob|TestHostStartsFromMeetingAppPeersSeeState|TestTwoServersShareOneTruth|TestStreamKeysNeverLeak|TestDrainedWorkerStopsItsJobCleanly|TestTrackRecordingStoppedThroughAnotherServer|TestRoomSpansServers|TestDrainingRoomServerMovesItsRooms|TestRoomServerLostPeersAndBeamMoveOn

test-e2e-race: ## the worker and control-plane end-to-end tests again, on a race-built binary (a race report fails them)
	ROOMCAST_E2E_RACE=1 CI=true go test -p 1 -count=1 -timeout 10m -run '$(RACE_E2E)' ./test/
	CI=true go test -race -p 1 -count=1 -timeout 10m ./internal/composite ./internal/control ./internal/trackrec ./internal/sfu ./internal/signal

fuzz: ## short runs of the signaling decoder and stream-key redaction fuzz targets
	go test -run '^$$' -fuzz FuzzDecode -fuzztime 15s ./internal/signal
	go test -run '^$$' -fuzz FuzzRedactNeverShowsTheKey -fuzztime 10s ./internal/streamurl

check: ## gofmt, vet, staticcheck, race tests, tidy
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	go test -race -short ./...
	go mod tidy -diff

bench: build ## SFU cost, track recording cost, browser join latency, beam worker latency/CPU, output fidelity at 60 s (docs/BENCHMARKS.md)
	go run ./cmd/sfubench
	go run ./cmd/trackrecbench
	go run ./cmd/beambench
	go run ./cmd/beambench --only latency --prewarm
	CI=true go test -run '^$$' -bench JoinToFirstFrame -benchtime 10x ./test/
	ROOMCAST_FIDELITY=60s@640x360 CI=true go test -count=1 -v -run TestOutputCarriesTheRoomInSync ./test/
	ROOMCAST_FIDELITY=60s@1280x720 CI=true go test -count=1 -v -run TestOutputCarriesTheRoomInSync ./test/

deb: build ## build bin/roomcast_<version>_<arch>.deb (apt-get install ./bin/roomcast_*.deb: a systemd service as user roomcast, data in /var/lib/roomcast)
	bash packaging/mkdeb.sh $(BIN) bin

clean: ## remove build output
	rm -rf bin
