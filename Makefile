# Common tasks. `make help` lists them.
POETRY ?= poetry
RUN := $(POETRY) run

.PHONY: help setup run test lint format typecheck docs docs-check migrate seed worker beat serve bench-tickets

help:            ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

setup:           ## install everything (Poetry deps, system packages, services, models, docs tooling)
	scripts/bootstrap.sh

run:             ## set up and run API + worker + beat on the local PostgreSQL/Redis
	scripts/run.sh

test:            ## run the whole test suite (real PostgreSQL, Redis, Celery worker)
	scripts/test.sh

lint:            ## ruff lint and format check
	$(RUN) ruff check src tests bench
	$(RUN) ruff format --check src tests bench

format:          ## apply ruff fixes and formatting
	$(RUN) ruff check --fix src tests bench
	$(RUN) ruff format src tests bench

typecheck:       ## mypy (strict)
	$(RUN) mypy

docs:            ## regenerate docs/openapi.json and docs/index.html (Redocly)
	$(RUN) ticketcreator export-openapi
	npm run -s docs:lint
	npm run -s docs:build

docs-check:      ## fail if the committed API docs are out of date
	$(RUN) ticketcreator export-openapi --check
	npm run -s docs:lint

migrate:         ## apply database migrations
	$(RUN) ticketcreator migrate

seed:            ## create the demo organization and users
	$(RUN) ticketcreator seed-demo

serve:           ## run the API only
	$(RUN) ticketcreator serve

worker:          ## run a Celery worker only
	$(RUN) ticketcreator worker

beat:            ## run Celery beat only
	$(RUN) ticketcreator beat
