# xmpp-accel: build, run, test, bench.
#   make run    the main job: a throwaway ejabberd on our drop-ins behind the sidecar (edge and MUC Light
#               component), scripted clients: logins, a room's fan-out, full-text search, metrics (root)
#   make run-replay   an XMPP stream (the XEP corpus or FILE=...) through exml_stream, in realistic chunks
#   make test   every test suite (installs what is missing on Debian when run as root)
#   make bench-xml, bench-fanout, bench-mam, bench-mam-cluster, bench-tls, bench-sidecar, bench-muclight   benchmarks against the real peers (not part of make test)
#   make bench-mam-servers   full-text MAM search through ejabberd and Prosody (ours vs MariaDB FULLTEXT, vs a client-side scan)
#   make sidecar, run-sidecar   the standalone sidecar (sidecar/), built / started from its example config
SHELL := /bin/bash
# rustup installs into ~/.cargo/bin (tools/ensure-deps.sh does so when cargo is missing)
export PATH := $(HOME)/.cargo/bin:$(PATH)
ROOT := $(abspath .)
ERL_DIR := $(ROOT)/erlang
XEP_CORPUS ?= $(abspath $(ROOT)/../shared/corpus/xep-stanzas.jsonl)
export XEP_CORPUS
TOOLS_EBIN := $(ERL_DIR)/_build/tools/ebin
ERL_LIBS_DEFAULT := $(ERL_DIR)/_build/default/lib

.PHONY: all build deps sidecar run-sidecar test-sidecar test-sidecar-component test-sidecar-scale bench-sidecar bench-scale bench-muclight test test-rust test-erlang test-elixir test-e2e test-ejabberd test-ejabberd-fulltext test-prosody-fulltext run run-replay bench-xml bench-fanout bench-mam bench-mam-servers bench-mam-cluster bench-tls lint fuzz test-fuzz clean

all: build

# Debian packages the build and the tests need; installed only when missing.
APT_PACKAGES := erlang-nox erlang-dev erlang-eunit erlang-common-test erlang-dialyzer rebar3 elixir \
                erlang-p1-xml erlang-p1-tls erlang-proper-dev \
                postgresql
deps:
	@bash tools/ensure-deps.sh $(APT_PACKAGES)

build: deps
	cargo build --release -p xmpp_accel_nif
	cd $(ERL_DIR) && rebar3 compile

# The standalone sidecar (target/release/xmpp-accel-sidecar).
sidecar: deps
	cargo build --release -p xmpp-accel-sidecar

# The sidecar from sidecar/examples/sidecar.toml (SIDECAR_CONFIG=... for
# another file), in the foreground. Without the example's certificate
# directory it makes a throwaway self-signed one for "localhost" and moves
# the listeners to loopback ports above 1024.
SIDECAR_CONFIG ?= sidecar/examples/sidecar.toml
run-sidecar: sidecar
	bash tools/run-sidecar.sh $(SIDECAR_CONFIG)

$(TOOLS_EBIN)/xmpp_stream_replay.beam: $(ERL_DIR)/tools/xmpp_stream_replay.erl $(ERL_DIR)/apps/exml/test/exml_test_corpus.erl
	mkdir -p $(TOOLS_EBIN)
	erlc -o $(TOOLS_EBIN) -pa $(ERL_LIBS_DEFAULT)/exml/ebin $^

# The main job (tools/run_demo.sh; needs root: it installs ejabberd and runs
# it): Debian's ejabberd on our fast_xml, fast_tls and xmpp_accel, the
# sidecar in front (edge and MUC Light component, one process), clients from
# the shared slixmpp venv; everything on 127.0.0.1 (ports 16800-16999) in a
# throwaway dir, stopped at the end.
run: build sidecar
	bash tools/run_demo.sh

# Replay FILE (default: the XEP corpus, else built-in samples) through exml_stream.
run-replay: build $(TOOLS_EBIN)/xmpp_stream_replay.beam
	ERL_LIBS=$(ERL_LIBS_DEFAULT) erl -noshell -pa $(TOOLS_EBIN) -s xmpp_stream_replay main $(FILE)

test: deps test-rust test-erlang test-elixir test-e2e test-fuzz
	@echo "make test: all suites passed"

test-rust:
	cargo fmt --all -- --check
	cargo clippy --all-targets -q -- -D warnings
	cargo test --workspace

test-erlang:
	cd $(ERL_DIR) && rebar3 eunit

test-elixir:
	MIX_ENV=test mix test

test-e2e: build $(TOOLS_EBIN)/xmpp_stream_replay.beam
	bash tests/replay_test.sh
	bash tests/git_subdir_test.sh
	bash tests/exml_peer.sh
	bash tests/fast_xml_peer.sh
	bash tests/fast_tls_peer.sh
	$(MAKE) test-ejabberd
	$(MAKE) test-ejabberd-fulltext
	$(MAKE) test-sidecar
	$(MAKE) test-sidecar-component
	$(MAKE) test-sidecar-scale
	$(MAKE) test-prosody-fulltext

# A real ejabberd (Debian's) on our fast_xml, with a real client (slixmpp).
test-ejabberd: build
	bash tests/ejabberd_dropin.sh

# Full-text MAM search in a real ejabberd with our module (erlang/ejabberd) on
# its SQLite and its PostgreSQL archive, slixmpp clients, restart and catch-up.
test-ejabberd-fulltext: build
	bash tests/ejabberd_fulltext.sh sqlite
	bash tests/ejabberd_fulltext.sh pgsql

# The sidecar's edge in front of a real ejabberd and Prosody, slixmpp clients,
# hostile input, reload and drain (tests/sidecar_edge.sh).
test-sidecar: sidecar
	bash tests/sidecar_edge.sh

# Full-text MAM search in a real Prosody (Debian's 0.12, SQLite) with our
# module (prosody/) over the sidecar's [index] API, slixmpp clients, restart
# with catch-up, back-fill into an empty index (tests/prosody_fulltext.sh).
test-prosody-fulltext: sidecar
	bash tests/prosody_fulltext.sh

# The sidecar's MUC Light component on a real ejabberd (XEP-0114,
# mod_privilege), slixmpp clients: rooms, fan-out, MAM and full text,
# restart (tests/sidecar_component.sh), on SQLite storage and then on a
# PostgreSQL the script starts (COMPONENT_STORAGE=postgres). Not in `make test` yet.
test-sidecar-component: sidecar
	bash tests/sidecar_component.sh
	COMPONENT_STORAGE=postgres bash tests/sidecar_component.sh

# Several component instances on one domain and one PostgreSQL, on a real
# ejabberd: concurrent changes from two, a split flow, searches on each;
# kill -9 one of three mid-flow, nothing echoed lost or duplicated, the
# restarted one catches up (tests/sidecar_scale.sh).
test-sidecar-scale: sidecar
	bash tests/sidecar_scale.sh

bench-xml: build
	bash bench/xml/run.sh

bench-fanout: build
	bash bench/fanout/run.sh

bench-tls: build
	bash bench/tls/run.sh

# TLS paths in front of a real ejabberd: Debian's fast_tls, ours, xmpp-proxy
# (XMPP_PROXY_BIN=..., built outside this tree) and the sidecar with mimalloc
# and with the system allocator (bench/sidecar/run.sh; needs root).
bench-sidecar: build sidecar
	cargo build --release -p xmpp-accel-loadgen
	CARGO_TARGET_DIR=$(ROOT)/target/bench-sidecar-sysalloc cargo build --release -p xmpp-accel-sidecar --no-default-features
	bash bench/sidecar/run.sh

# One room of 100, 1,000 and 5,000 members: our MUC Light component on
# ejabberd vs ejabberd's and Prosody's mod_muc (XEP-0045): time to the last
# member, churn traffic, CPU (bench/muclight/run.sh; needs root; not in make
# test). BENCH_QUICK=1 for a smoke run.
bench-muclight: sidecar
	cargo build --release -p xmpp-accel-loadgen
	bash bench/muclight/run.sh

bench-mam:
	bash bench/mam/run.sh

# Full-text MAM search of one user's 100,000-message archive through real
# servers (bench/mam_servers/run.sh; needs root; not in make test): ejabberd
# + our module vs ejabberd on MariaDB FULLTEXT, Prosody + our module vs a
# client paging through the archive. BENCH_QUICK=1 for a smoke run.
bench-mam-servers: build sidecar
	bash bench/mam_servers/run.sh

# The MAM index in a BEAM cluster: xmpp_accel_mam_cluster's two designs on
# three peer nodes on loopback (bench/mam_cluster/run.sh; not in make test).
bench-mam-cluster: build
	bash bench/mam_cluster/run.sh

# 1, 2, 3 component instances on one PostgreSQL: messages/s, CPU per instance
# and of the database, archive write latency, index lag (bench/scale/run.sh).
bench-scale: sidecar
	bash bench/scale/run.sh

# Fuzzing: every target in fuzz/fuzz_targets (a new one joins by itself)
# for FUZZ_SECONDS each, from its seed corpus in the tree
# (fuzz/corpus/<target>/seed*); what a run finds goes to
# fuzz/target/fuzz-corpus/<target> and crashes to fuzz/artifacts/<target>.
# Every target runs even if one fails; the exit code says whether any did.
# cargo-fuzz is installed when missing; it needs nightly features
# (RUSTC_BOOTSTRAP=1). `make test` runs a FUZZ_SMOKE_SECONDS smoke of each.
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 20
FUZZ_DIR := native/xmpp_accel_core/fuzz
fuzz:
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	@cd $(FUZZ_DIR) && failed=""; \
	for f in fuzz_targets/*.rs; do t=$$(basename "$$f" .rs); \
	  mkdir -p "corpus/$$t" "target/fuzz-corpus/$$t"; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run "$$t" "target/fuzz-corpus/$$t" "corpus/$$t" -- \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -print_final_stats=1 \
	    && echo "fuzz: $$t passed" || { echo "fuzz: $$t FAILED"; failed="$$failed $$t"; }; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: FAILED:$$failed"; exit 1; fi; \
	echo "fuzz: every target passed"

test-fuzz:
	$(MAKE) fuzz FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS)

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	cd $(ERL_DIR) && rebar3 xref && rebar3 dialyzer
	mix format --check-formatted

clean:
	cargo clean
	rm -rf $(ERL_DIR)/_build _build priv erlang/apps/xmpp_accel/priv
