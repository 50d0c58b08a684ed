# leadline: the two commands are `make demo` and `make test`.
.PHONY: demo test down stack bench tools lint fmt

## demo: the local stack in MiniStack, simulated providers, a scenario and a report
demo:
	scripts/demo.sh

## test: formatting, clippy, unit, property, template and integration tests
test:
	scripts/test.sh

## down: stop what `make demo` or `make test` started (MiniStack)
down:
	scripts/local-stack.sh down

## stack: deploy infra/template.yaml into MiniStack and print its outputs
stack:
	scripts/local-stack.sh deploy && cat .demo/stack.env

## bench: the performance budgets of docs/performance.md
bench:
	scripts/bench.sh

tools:
	scripts/local-stack.sh tools

fmt:
	cargo fmt --all
