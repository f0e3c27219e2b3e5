# Laniakea: the PostgreSQL extension (PGXS), and the entry points for tests,
# benchmarks, formatting and lint.  `make` builds the extension with
# PostgreSQL's headers only; `make install` installs it into the PostgreSQL
# that pg_config names.  `make bridge` builds bridge/laniakea-bridge (which
# needs libwebsockets, jansson and libjwt).  WERROR=1 turns warnings into
# errors, as CI builds (scripts/test.sh).

EXTENSION = laniakea
DATA = laniakea--0.1.sql
MODULE_big = laniakea

CORE_SRCS = $(wildcard src/crdt/*.c)
PG_SRCS = $(wildcard src/pg/*.c)
OBJS = $(CORE_SRCS:.c=.o) $(PG_SRCS:.c=.o)

REGRESS = gcounter pncounter orset lwwreg aggregate binary_input track deletes notify track_bulk counter_totals rejected
# every file runs alone too: make installcheck REGRESS=orset
REGRESS_OPTS = --load-extension=laniakea
# concurrency (pg_isolation_regress; specs/, outputs in output_iso/)
ISOLATION = track_same_key

PG_CONFIG ?= pg_config
PG_CPPFLAGS = -Isrc/crdt
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers \
	-Wno-sign-compare -Wno-cast-function-type $(if $(WERROR),-Werror)

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: a changed struct must rebuild every object
$(OBJS): $(wildcard src/crdt/*.h src/pg/*.h)

bridge:
	$(MAKE) -C bridge

# the client package, client/lib: the core in WebAssembly beside the ES
# modules (needs clang-14's wasm32 target, wasi-libc, lld and binaryen, which
# scripts/deps.sh installs, and npm); the demo and the tests run it
client:
	$(MAKE) -C client

.PHONY: bridge client unit fuzz-smoke fuzz-sql bench bench-types bench-track bench-bridge bench-client soak format lint lint-js format-js

unit:
	$(MAKE) -C test unit

fuzz-smoke:
	$(MAKE) -C test fuzz-smoke

# sqlsmith's random SQL against tables of every CRDT type, on a cluster of its
# own, for FUZZ_SQL_SECONDS; counts crashes (test/fuzz-sql/run.sh)
FUZZ_SQL_SECONDS ?= 300
fuzz-sql:
	FUZZ_SQL_SECONDS=$(FUZZ_SQL_SECONDS) bash test/fuzz-sql/run.sh

# every benchmark: the types (bench/run.sh), tracked tables, the bridge's fan-out,
# the client library beside Yjs and Automerge
bench: bench-types bench-track bench-bridge bench-client

bench-types:
	bash bench/run.sh

bench-track:
	bash bench/track/run.sh

bench-bridge:
	bash bench/bridge/run.sh

bench-client:
	bash bench/client/run.sh

# the long replication soak (not in CI): 4 nodes, more clients and operations
soak:
	bash test/cluster/soak.sh

FORMAT_SRCS = $(CORE_SRCS) $(PG_SRCS) $(wildcard src/crdt/*.h src/pg/*.h bridge/src/*.[ch] bridge/src/lws/*.[ch])

format:
	clang-format -i $(FORMAT_SRCS)

BRIDGE_SRCS = $(wildcard bridge/src/*.c bridge/src/lws/*.c)

# JavaScript: Biome (package.json at the top pins it) checks formatting and
# lint rules (biome.json) of every .js and .mjs file git knows of
node_modules/.bin/biome: package-lock.json
	npm ci --silent --no-audit --no-fund
	touch $@

lint-js: node_modules/.bin/biome
	node_modules/.bin/biome ci --colors=off .

format-js: node_modules/.bin/biome
	node_modules/.bin/biome check --write .

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
		--suppress=missingIncludeSystem -Isrc/crdt src/crdt
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
		--suppress=missingIncludeSystem --library=bridge/cppcheck.cfg \
		-Isrc/crdt -Ibridge/src bridge/src
	clang-tidy --quiet $(CORE_SRCS) -- -Isrc/crdt -std=c11
	clang-tidy --quiet $(BRIDGE_SRCS) -- -Ibridge/src -Isrc/crdt \
		$(shell pkg-config --cflags libpq) -std=gnu11 -D_GNU_SOURCE
