# blobstash — run `make help` for the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# `make up|demo|down DIR=/some/dir` runs a local cluster with its state there instead of .local
# (the demo test runs one of its own beside a developer's).
ifdef DIR
export BLOBSTASH_STATE_DIR := $(abspath $(DIR))
endif

TOOLS_PATH := $(shell bash e2e/tools/install.sh --print-path)
export PATH := $(CURDIR)/bin:$(CURDIR)/node_modules/.bin:$(TOOLS_PATH):$(PATH)

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

tools: ## Build/install pinned tools (Kubernetes, containerd, runc, CNI, etcd, restic, helm, Node 24) into ~/.cache/blobstash
	@bash e2e/tools/install.sh

node_modules/.installed: package.json package-lock.json | tools
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

deps: node_modules/.installed ## Install npm dependencies from the lockfile

build: deps ## Compile TypeScript to dist/
	@npm run --silent build

lint: deps ## Type-check and lint
	@npm run --silent typecheck
	@npm run --silent lint

unit: deps ## Unit tests (pure functions, no cluster)
	@npm run --silent test:unit

e2e: deps ## Tests against a local cluster they start themselves (real apiserver, Azurite, restic)
	@npm run --silent test:e2e

test: tools deps lint unit e2e ## The whole test suite (what CI runs)

up: tools deps ## Start the local cluster (two nodes), Azurite, and install the operator with Helm; writes .local/env
	@node e2e/cluster/cli.ts up
	@node e2e/operator-cli.ts up

down: ## Stop everything `make up` started and undo its changes to the machine
	@node e2e/cluster/cli.ts down

demo: up ## Back up sample data and restore it through examples/ on the local cluster, and check it
	@node e2e/demo.ts

crds: ## Copy crds/ into the Helm chart (it ships byte-identical CRDs; a unit test checks)
	@rm -f charts/blobstash/crds/*.yaml
	@cp crds/*.yaml charts/blobstash/crds/
	@echo "charts/blobstash/crds/ = crds/ ($$(ls crds/*.yaml | wc -l) CRDs)"

bench: tools deps ## Run the benchmarks under bench/ (each starts its own cluster) and print their figures
	@rc=0; for b in bench/*.bench.ts; do node "$$b" || rc=1; done; exit $$rc

image: tools deps ## Build the project's image as an OCI archive, without Docker (cached by content); prints its path
	@node e2e/images/cli.ts build blobstash

e2e-kind: ## Backup and restore through real pods on a kind cluster (needs Docker; not part of make test)
	@bash e2e/kind/run.sh

.PHONY: help tools deps build lint unit e2e test up down demo crds bench image e2e-kind
