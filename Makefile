# The two commands of the README, and the steps they share. Each step skips
# what is already done: packages present, model in place, build up to date.

PERSONA ?= assistant
SWIFT ?= swift

.PHONY: chat test deps model openai-venv build build-release lint bench

## chat: talk to a shipped persona on the default model (PERSONA=name to pick another)
chat: deps model build-release
	.build/release/asth chat $(PERSONA)

## test: format lint, then every test, the end-to-end ones on the real model
test: deps model openai-venv
	$(SWIFT) format lint --strict --recursive Package.swift Sources Tests
	$(SWIFT) build --build-tests
	$(SWIFT) test

## bench: speed against llama.cpp on this machine (see the README)
bench: deps model build-release
	.build/release/asth bench --model smollm2-135m-instruct

deps:
	@scripts/install-deps

model:
	@scripts/install-model

# The official `openai` Python client the HTTP API's end-to-end tests drive.
openai-venv:
	@scripts/openai-venv

build:
	$(SWIFT) build

build-release:
	$(SWIFT) build -c release --product asth
